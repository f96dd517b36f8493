package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vpnbot/vpnbot/pkg/bus"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// Stream is the name of the JetStream stream holding SendMessage commands.
const Stream = "OUTBOX"

// Partitions is how many partitions each priority's subjects are split into,
// by bus.Partition of the chat id.
const Partitions = 64

const (
	subjectPrefix = "outbox"
	// maxAge bounds how long a command waits for a sender that is down;
	// after a week a reminder or a broadcast is no longer worth sending.
	maxAge = 7 * 24 * time.Hour
	// duplicates covers a publisher retrying after a lost ack, and workers
	// that re-publish a reminder with the same dedup id on each pass of the
	// day; the sender's sent-log covers the rest.
	duplicates = 24 * time.Hour
)

// Telegram's limits (Bot API sendMessage, sendPhoto, InlineKeyboardButton).
const (
	maxDedupID      = 200 // bytes: our own bound, a Nats-Msg-Id has to stay small
	maxText         = 4096
	maxCaption      = 1024
	maxCallbackData = 64 // bytes
)

// ErrInvalid is wrapped by the errors of commands that can never be sent,
// with what is wrong: Publish refuses them, and a sender that Decodes one
// should drop it (dead-letter it) rather than retry.
var ErrInvalid = errors.New("invalid send command")

// Priorities lists the priorities a command may have, most urgent first:
// the order in which the sender drains its backlog.
func Priorities() []vpnbotv1.Priority {
	return []vpnbotv1.Priority{
		vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		vpnbotv1.Priority_PRIORITY_REMINDER,
		vpnbotv1.Priority_PRIORITY_BROADCAST,
	}
}

// PriorityName is the subject token (and metric label) of p:
// "transactional", "reminder" or "broadcast". It is "unspecified" for
// PRIORITY_UNSPECIFIED and any unknown value, which Publish rejects, so no
// command is ever stored under that name.
func PriorityName(p vpnbotv1.Priority) string {
	switch p {
	case vpnbotv1.Priority_PRIORITY_TRANSACTIONAL:
		return "transactional"
	case vpnbotv1.Priority_PRIORITY_REMINDER:
		return "reminder"
	case vpnbotv1.Priority_PRIORITY_BROADCAST:
		return "broadcast"
	default:
		return "unspecified"
	}
}

// Subject is the subject of commands of priority p in partition:
// "outbox.<priority>.<partition>".
func Subject(p vpnbotv1.Priority, partition int) string {
	return subjectPrefix + "." + PriorityName(p) + "." + strconv.Itoa(partition)
}

// SubjectFilter matches every partition of priority p: "outbox.<priority>.>",
// the filter of the sender's consumer for that priority.
func SubjectFilter(p vpnbotv1.Priority) string {
	return subjectPrefix + "." + PriorityName(p) + ".>"
}

// StreamConfig is the OUTBOX stream's definition, for bus.DeclareStreams:
// every publisher and the sender declare it at start, so any of them may
// start first.
func StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "SendMessage commands to the sender, by priority and chat partition",
		Subjects:    []string{subjectPrefix + ".>"},
		// Work queue: a command is gone once the sender acknowledges it, and
		// the per-priority consumers' filters do not overlap.
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		MaxAge:     maxAge,
		Duplicates: duplicates,
	}
}

// Publish validates m, stores it on its priority's subject in the partition
// of its chat, and waits, bounded by ctx, for the stream's ack. Its
// Nats-Msg-Id is m's dedup id; duplicate reports that the stream already
// had that id within its duplicate window, so nothing was added. A missing
// created_at is set to now on the published copy; m itself is not changed.
// A command that can never be sent fails with an error wrapping ErrInvalid.
func Publish(ctx context.Context, js jetstream.JetStream, m *vpnbotv1.SendMessage) (duplicate bool, err error) {
	if err := validate(m); err != nil {
		return false, fmt.Errorf("publishing send command: %w", err)
	}
	if m.GetCreatedAt() == nil {
		m = proto.CloneOf(m)
		m.CreatedAt = timestamppb.Now()
	}
	data, err := proto.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("encoding send command %s: %w", m.GetDedupId(), err)
	}
	subject := Subject(m.GetPriority(), bus.Partition(m.GetChatId(), Partitions))
	duplicate, err = bus.Publish(ctx, js, subject, data, m.GetDedupId())
	if err != nil {
		return false, fmt.Errorf("publishing send command %s: %w", m.GetDedupId(), err)
	}
	return duplicate, nil
}

// Decode reads a command the sender fetched from the stream. It checks the
// command as Publish does, so a malformed one (published around Publish)
// fails with an error wrapping ErrInvalid and can be dropped at once.
func Decode(data []byte) (*vpnbotv1.SendMessage, error) {
	var m vpnbotv1.SendMessage
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decoding send command: %w: %w", ErrInvalid, err)
	}
	if err := validate(&m); err != nil {
		return nil, fmt.Errorf("decoding send command %s: %w", m.GetDedupId(), err)
	}
	return &m, nil
}

// validate returns an error wrapping ErrInvalid when Telegram would refuse m
// or the sender could not tell what to do with it.
func validate(m *vpnbotv1.SendMessage) error {
	switch {
	case m == nil:
		return fmt.Errorf("%w: no command", ErrInvalid)
	case m.GetDedupId() == "":
		return fmt.Errorf("%w: dedup_id is empty", ErrInvalid)
	case len(m.GetDedupId()) > maxDedupID:
		return fmt.Errorf("%w: dedup_id is %d bytes, more than %d", ErrInvalid, len(m.GetDedupId()), maxDedupID)
	case m.GetChatId() == 0:
		return fmt.Errorf("%w: chat_id is 0", ErrInvalid)
	case !slices.Contains(Priorities(), m.GetPriority()):
		return fmt.Errorf("%w: priority %v is not one of transactional, reminder, broadcast", ErrInvalid, m.GetPriority())
	case m.GetParseMode() != "" && m.GetParseMode() != "HTML":
		return fmt.Errorf("%w: parse_mode %q is neither empty nor HTML", ErrInvalid, m.GetParseMode())
	case !utf8.ValidString(m.GetText()):
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	case len(m.GetPhoto()) > 0 && m.GetPhotoUrl() != "":
		return fmt.Errorf("%w: both photo and photo_url are set", ErrInvalid)
	}
	// Telegram counts characters after parsing entities; counting the raw
	// text (HTML tags included) is stricter, never laxer.
	chars := utf8.RuneCountInString(m.GetText())
	if len(m.GetPhoto()) > 0 || m.GetPhotoUrl() != "" {
		if chars > maxCaption {
			return fmt.Errorf("%w: caption is %d characters, more than %d", ErrInvalid, chars, maxCaption)
		}
	} else {
		if chars == 0 {
			return fmt.Errorf("%w: no text, photo or photo_url", ErrInvalid)
		}
		if chars > maxText {
			return fmt.Errorf("%w: text is %d characters, more than %d", ErrInvalid, chars, maxText)
		}
	}
	return validateKeyboard(m.GetRows())
}

// actions counts what b does when pressed: Telegram wants exactly one.
func actions(b *vpnbotv1.Button) int {
	n := 0
	for _, v := range []string{b.GetCallbackData(), b.GetUrl(), b.GetWebAppUrl()} {
		if v != "" {
			n++
		}
	}
	return n
}

func validateKeyboard(rows []*vpnbotv1.ButtonRow) error {
	for i, row := range rows {
		for j, b := range row.GetButtons() {
			where := fmt.Sprintf("button %d of row %d", j+1, i+1)
			switch {
			case b.GetText() == "":
				return fmt.Errorf("%w: %s has no text", ErrInvalid, where)
			case actions(b) != 1:
				return fmt.Errorf("%w: %s needs exactly one of callback_data, url and web_app_url", ErrInvalid, where)
			case len(b.GetCallbackData()) > maxCallbackData:
				return fmt.Errorf("%w: %s has %d bytes of callback_data, more than %d",
					ErrInvalid, where, len(b.GetCallbackData()), maxCallbackData)
			}
		}
	}
	return nil
}
