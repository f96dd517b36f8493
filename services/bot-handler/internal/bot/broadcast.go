package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/outbox"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// EventBroadcastQueued is an admin's broadcast handed to the sender.
const EventBroadcastQueued = "BROADCAST_QUEUED"

// MaxBroadcastText is the longest broadcast, in characters: one Telegram
// message.
const MaxBroadcastText = 4096

// broadcastChunk is how many commands are built and published at a time, so
// a broadcast to many users never holds all their messages in memory.
const broadcastChunk = 1000

// Broadcasts records admins' broadcasts and reads their progress (store.Store).
type Broadcasts interface {
	CreateBroadcast(ctx context.Context, nb store.NewBroadcast) (b store.Broadcast, created bool, err error)
	BroadcastRecipients(ctx context.Context, broadcastID int64) ([]int64, error)
	BroadcastProgress(ctx context.Context, broadcastID int64) (p store.BroadcastProgress, found bool, err error)
}

// Outbox hands SendMessage commands to the sender.
type Outbox interface {
	PublishBatch(ctx context.Context, msgs []*vpnbotv1.SendMessage) (published, duplicates int, err error)
}

// StreamOutbox publishes SendMessage commands on the OUTBOX stream.
type StreamOutbox struct {
	JS jetstream.JetStream
}

// PublishBatch is outbox.PublishBatch on o's JetStream.
func (o StreamOutbox) PublishBatch(ctx context.Context, msgs []*vpnbotv1.SendMessage) (published, duplicates int, err error) {
	return outbox.PublishBatch(ctx, o.JS, msgs)
}

// BroadcastDedupID is the dedup id of a broadcast's message to a user: the
// sender's sent-log under this id is how /broadcast_status counts it sent.
func BroadcastDedupID(broadcastID, userID int64) string {
	return "broadcast:" + strconv.FormatInt(broadcastID, 10) + ":" + strconv.FormatInt(userID, 10)
}

// onBroadcast is /broadcast <all|active|expired> <text>; to anyone but an
// admin it is an unknown command.
//
// The broadcast is keyed by its update, so a redelivery of the update (the
// replica died after publishing, or the answer to the admin failed) finds
// the broadcast made the first time and publishes its messages again, which
// their dedup ids make a no-op: each recipient gets it once.
func (b *Bot) onBroadcast(ctx context.Context, c tele.Context) error {
	if !b.admins[c.Sender().ID] {
		return b.onOther(ctx, c)
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	segment, text := broadcastArgs(c.Text())
	switch {
	case segment != store.SegmentAll && segment != store.SegmentActive && segment != store.SegmentExpired, text == "":
		return b.reply(ctx, c, BroadcastUsageScreen(lang))
	case utf8.RuneCountInString(text) > MaxBroadcastText:
		return b.reply(ctx, c, BroadcastTooLongScreen(lang, utf8.RuneCountInString(text)))
	}
	bc, created, err := b.broadcasts.CreateBroadcast(ctx, store.NewBroadcast{
		BotID: b.me.ID, UpdateID: int64(c.Update().ID), AdminID: c.Sender().ID, Segment: segment, Text: text,
	})
	if err != nil {
		return err
	}
	recipients, err := b.broadcasts.BroadcastRecipients(ctx, bc.ID)
	if err != nil {
		return err
	}
	published, duplicates, err := b.publishBroadcast(ctx, bc, recipients)
	if err != nil {
		return err
	}
	b.log.Info().Str("event", EventBroadcastQueued).Int64("broadcast_id", bc.ID).Int64("admin_id", bc.AdminID).
		Str("segment", bc.Segment).Int("total", bc.Total).Int("published", published).Int("duplicates", duplicates).
		Bool("again", !created).Msg("broadcast queued")
	return b.reply(ctx, c, BroadcastQueuedScreen(lang, bc.ID, bc.Total))
}

// publishBroadcast publishes one command per recipient, a chunk at a time.
func (b *Bot) publishBroadcast(ctx context.Context, bc store.Broadcast, recipients []int64) (published, duplicates int, err error) {
	// The broadcast's own time, not the clock: a retry's commands are the
	// same, and the sender's queue age counts from when the admin asked.
	createdAt := timestamppb.New(bc.CreatedAt)
	for start := 0; start < len(recipients); start += broadcastChunk {
		chunk := recipients[start:min(start+broadcastChunk, len(recipients))]
		msgs := make([]*vpnbotv1.SendMessage, len(chunk))
		for i, userID := range chunk {
			msgs[i] = &vpnbotv1.SendMessage{
				DedupId:   BroadcastDedupID(bc.ID, userID),
				ChatId:    userID, // a private chat's id is its user's
				Text:      bc.Text,
				Priority:  vpnbotv1.Priority_PRIORITY_BROADCAST,
				CreatedAt: createdAt,
			}
		}
		p, d, err := b.outbox.PublishBatch(ctx, msgs)
		published, duplicates = published+p, duplicates+d
		if errors.Is(err, outbox.ErrInvalid) {
			return published, duplicates, errors.Join(ErrRejected, err)
		}
		if err != nil {
			return published, duplicates, fmt.Errorf("queueing broadcast %d: %w", bc.ID, err)
		}
	}
	return published, duplicates, nil
}

// onBroadcastStatus is /broadcast_status <id>; to anyone but an admin it is
// an unknown command.
func (b *Bot) onBroadcastStatus(ctx context.Context, c tele.Context) error {
	if !b.admins[c.Sender().ID] {
		return b.onOther(ctx, c)
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(c.Message().Payload), "#"), 10, 64)
	if err != nil {
		return b.reply(ctx, c, BroadcastUsageScreen(lang))
	}
	p, found, err := b.broadcasts.BroadcastProgress(ctx, id)
	if err != nil {
		return err
	}
	if !found {
		return b.reply(ctx, c, BroadcastNotFoundScreen(lang, id))
	}
	return b.reply(ctx, c, BroadcastStatusScreen(lang, p))
}

// broadcastArgs splits "/broadcast[@bot] <segment> <text>". It reads the
// whole message rather than telebot's Payload, which ends at the first line
// break: a broadcast is often several paragraphs, and they are kept as typed.
func broadcastArgs(message string) (segment, text string) {
	_, rest, _ := strings.Cut(strings.TrimLeftFunc(message, unicode.IsSpace), "/broadcast")
	if rest != "" && rest[0] == '@' { // the command addressed to the bot by name
		rest = strings.TrimLeftFunc(rest, func(r rune) bool { return !unicode.IsSpace(r) })
	}
	rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
	end := strings.IndexFunc(rest, unicode.IsSpace)
	if end < 0 {
		return strings.ToLower(rest), ""
	}
	return strings.ToLower(rest[:end]), strings.TrimSpace(rest[end:])
}
