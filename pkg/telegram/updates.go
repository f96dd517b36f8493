package telegram

import (
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The TG_UPDATES stream: raw Telegram updates, partitioned by chat, as the
// gateway stores them and the bot-handler reads them.
const (
	// UpdatesStream holds raw Telegram updates on tg.updates.<partition>.
	UpdatesStream = "TG_UPDATES"
	// UpdatesSubjectPrefix is the prefix of the partitions' subjects, the
	// Subject of the bot-handler's partitioned consumer.
	UpdatesSubjectPrefix = "tg.updates"
	// DefaultPartitions is the default number of update partitions
	// (bus.Partition of the chat id): it bounds the concurrency of the whole
	// bot-handler fleet.
	DefaultPartitions = 64
)

// updatesDuplicates must cover Telegram's redelivery of an update the
// gateway already published (Telegram retries for a long time).
const updatesDuplicates = time.Hour

// Headers the gateway puts on every update it stores: what it read of the
// update to route it, for whoever looks at the stream (the bot-handler
// decodes the body itself, with the same DecodeUpdate).
const (
	HeaderUpdateID = "Tg-Update-Id"
	HeaderChatID   = "Tg-Chat-Id"
	HeaderUserID   = "Tg-User-Id"
)

// UpdatesStreamConfig is the TG_UPDATES stream's definition, for
// bus.DeclareStreams: a work queue (an update is gone once handled) with a
// one-hour duplicate window.
func UpdatesStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        UpdatesStream,
		Description: "Telegram updates, partitioned by chat",
		Subjects:    []string{UpdatesSubjectPrefix + ".*"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  updatesDuplicates,
	}
}

// UpdatesSubject is the subject of update partition p: "tg.updates.<p>".
func UpdatesSubject(partition int) string {
	return UpdatesSubjectPrefix + "." + strconv.Itoa(partition)
}

// Header is m as the headers the gateway stores with an update.
func (m UpdateMeta) Header() nats.Header {
	h := nats.Header{}
	h.Set(HeaderUpdateID, strconv.FormatInt(m.UpdateID, 10))
	if m.ChatID != 0 {
		h.Set(HeaderChatID, strconv.FormatInt(m.ChatID, 10))
	}
	if m.UserID != 0 {
		h.Set(HeaderUserID, strconv.FormatInt(m.UserID, 10))
	}
	return h
}
