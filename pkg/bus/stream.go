package bus

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Streams and their shape (DESIGN.md §2).
const (
	// StreamUpdates holds raw Telegram updates on tg.updates.<partition>.
	StreamUpdates = "TG_UPDATES"
	// StreamDLQ holds what could not be handled, on dlq.<stream>.
	StreamDLQ = "DLQ"
	// DefaultPartitions is the default number of update partitions: it bounds
	// the concurrency of the whole bot-handler fleet.
	DefaultPartitions = 64
)

// UpdatesSubjectPrefix is the subject prefix of update partitions, for
// RunnerConfig.SubjectPrefix.
const UpdatesSubjectPrefix = "tg.updates"

const (
	updatesPrefix = UpdatesSubjectPrefix
	dlqPrefix     = "dlq"
	// updatesDuplicates must cover Telegram's redelivery of an update the
	// gateway already published (Telegram retries for a long time).
	updatesDuplicates = time.Hour
	dlqMaxAge         = 14 * 24 * time.Hour
	// dlqDuplicates covers retries of one dead-lettering (Nats-Msg-Id
	// "<stream>:<seq>"), which happen within the retry delay.
	dlqDuplicates = time.Hour
)

// UpdatesSubject is the subject of update partition p: "tg.updates.<p>".
func UpdatesSubject(partition int) string {
	return updatesPrefix + "." + strconv.Itoa(partition)
}

// DLQSubject is the subject of the dead letters of stream: "dlq.<stream>".
func DLQSubject(stream string) string {
	return dlqPrefix + "." + stream
}

// Partition maps key (a chat or user id) to one of n partitions. It is
// FNV-1a of the key's 8 big-endian bytes mod n, and must never change: the
// gateway and the bot-handler have to agree on it across versions. n must be
// at least 1; a smaller n yields 0.
func Partition(key int64, n int) int {
	if n < 1 {
		return 0
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(key))
	h := fnv.New64a()
	_, _ = h.Write(b[:]) // hash.Hash never fails
	return int(h.Sum64() % uint64(n))
}

func updatesStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamUpdates,
		Description: "Telegram updates, partitioned by chat",
		Subjects:    []string{updatesPrefix + ".*"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  updatesDuplicates,
	}
}

func dlqStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamDLQ,
		Description: "messages that could not be handled, with Dlq-* headers saying why",
		Subjects:    []string{dlqPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      dlqMaxAge,
		Duplicates:  dlqDuplicates,
	}
}

// EnsureUpdatesStream creates the TG_UPDATES stream, or puts its
// configuration back if it drifted. Calling it again changes nothing.
func EnsureUpdatesStream(ctx context.Context, js jetstream.JetStream) error {
	return ensureStream(ctx, js, updatesStreamConfig())
}

// EnsureDLQStream creates the DLQ stream, or puts its configuration back if
// it drifted. Calling it again changes nothing.
func EnsureDLQStream(ctx context.Context, js jetstream.JetStream) error {
	return ensureStream(ctx, js, dlqStreamConfig())
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("declaring stream %s: %w", cfg.Name, err)
	}
	return nil
}

// Publish publishes data to subject with Nats-Msg-Id msgID (none when empty)
// and waits, bounded by ctx, until the stream has stored it. duplicate
// reports that the stream had already stored msgID within its duplicate
// window, so this publish added nothing.
func Publish(ctx context.Context, js jetstream.JetStream, subject string, data []byte, msgID string) (duplicate bool, err error) {
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := js.Publish(ctx, subject, data, opts...)
	if err != nil {
		return false, fmt.Errorf("publishing to %s: %w", subject, err)
	}
	return ack.Duplicate, nil
}
