package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// Event names of broadcasts' log lines.
const (
	// EventBroadcastQueued is an admin's broadcast handed to the sender.
	EventBroadcastQueued = "BROADCAST_QUEUED"
	// EventBroadcastCancelled is a broadcast an admin cancelled while it was
	// being sent.
	EventBroadcastCancelled = "BROADCAST_CANCELLED"
)

const (
	// MaxBroadcastText is the longest broadcast, in characters: one Telegram
	// message.
	MaxBroadcastText = 4096
	// MaxBroadcastCaption is the longest caption of a broadcast's photo.
	MaxBroadcastCaption = 1024
	// MaxBroadcastButtons is how many buttons a broadcast may carry.
	MaxBroadcastButtons = 8
	// DefaultBroadcastRate is the sender's rate when Config does not say
	// (the sender's own default, SENDER_RATE).
	DefaultBroadcastRate = 25
	// paidBroadcastRate is Telegram's limit on paid broadcasts, in messages
	// a second.
	paidBroadcastRate = 1000
)

// broadcastChunk is how many commands are built and published at a time, so
// a broadcast to many users never holds all their messages in memory.
const broadcastChunk = 1000

// Broadcasts records admins' broadcasts and reads their progress (store.Store).
type Broadcasts interface {
	CreateBroadcast(ctx context.Context, nb store.NewBroadcast) (b store.Broadcast, created bool, err error)
	ConfirmBroadcast(ctx context.Context, id int64, paid bool) (b store.Broadcast, confirmed, found bool, err error)
	CancelBroadcast(ctx context.Context, id int64, state string) (b store.Broadcast, cancelled, found bool, err error)
	BroadcastRecipients(ctx context.Context, broadcastID int64) ([]int64, error)
	BroadcastProgress(ctx context.Context, broadcastID int64, failed []int64) (p store.BroadcastProgress, found bool, err error)
}

// Outbox hands SendMessage commands to the sender, and tells which of a
// broadcast's the sender gave up on.
type Outbox interface {
	PublishBatch(ctx context.Context, msgs []*vpnbotv1.SendMessage) (published, duplicates int, err error)
	BroadcastFailures(ctx context.Context, broadcastID int64) (userIDs []int64, err error)
}

// StreamOutbox publishes SendMessage commands on the OUTBOX stream.
type StreamOutbox struct {
	JS jetstream.JetStream
}

// PublishBatch is outbox.PublishBatch on o's JetStream.
func (o StreamOutbox) PublishBatch(ctx context.Context, msgs []*vpnbotv1.SendMessage) (published, duplicates int, err error) {
	return outbox.PublishBatch(ctx, o.JS, msgs)
}

// BroadcastFailures reads the OUTBOX dead letters: the users whose message
// of the broadcast the sender gave up on. It reads them all, which is cheap
// while the dead letters are few, as on-call keeps them.
func (o StreamOutbox) BroadcastFailures(ctx context.Context, broadcastID int64) ([]int64, error) {
	entries, err := bus.ListDLQ(ctx, o.JS, outbox.Stream, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the dead letters of broadcast %d: %w", broadcastID, err)
	}
	prefix := broadcastDedupPrefix(broadcastID)
	var users []int64
	for _, e := range entries {
		if rest, ok := strings.CutPrefix(e.MsgID, prefix); ok {
			if id, err := strconv.ParseInt(rest, 10, 64); err == nil {
				users = append(users, id)
			}
		}
	}
	return users, nil
}

// BroadcastDedupID is the dedup id of a broadcast's message to a user: the
// sender's sent-log under this id is how /broadcast_status counts it sent.
func BroadcastDedupID(broadcastID, userID int64) string {
	return broadcastDedupPrefix(broadcastID) + strconv.FormatInt(userID, 10)
}

// broadcastDedupPrefix starts the dedup ids of a broadcast's messages.
func broadcastDedupPrefix(broadcastID int64) string {
	return "broadcast:" + strconv.FormatInt(broadcastID, 10) + ":"
}

// broadcaster reports whether the sender of the update may broadcast: an
// owner or an admin.
func (b *Bot) broadcaster(ctx context.Context, c tele.Context) (bool, error) {
	role, err := b.roleOf(ctx, c.Sender().ID)
	return allowed(role, shop.RoleAdmin), err
}

// onBroadcast is /broadcast <audience> <text>; to anyone but an admin it is
// an unknown command.
func (b *Bot) onBroadcast(ctx context.Context, c tele.Context) error {
	if may, err := b.broadcaster(ctx, c); !may || err != nil {
		return cmp.Or(err, b.onOther(ctx, c))
	}
	return b.draftBroadcast(ctx, c, c.Text(), "")
}

// onPhoto is a photo: an admin's photo captioned /broadcast <audience>
// <text> is a broadcast with that photo; any other gets the pointer to
// /help that all media gets.
func (b *Bot) onPhoto(ctx context.Context, c tele.Context) error {
	m := c.Message()
	if !b.broadcastCommand(m.Caption) || m.Photo == nil {
		return b.onOther(ctx, c)
	}
	if may, err := b.broadcaster(ctx, c); !may || err != nil {
		return cmp.Or(err, b.onOther(ctx, c))
	}
	return b.draftBroadcast(ctx, c, m.Caption, m.Photo.FileID)
}

// broadcastCommand reports whether a caption starts with /broadcast,
// addressed to this bot or to no bot in particular.
func (b *Bot) broadcastCommand(caption string) bool {
	cmd, _, _ := strings.Cut(strings.TrimLeftFunc(caption, unicode.IsSpace), " ")
	cmd, _, _ = strings.Cut(cmd, "\n")
	name, to, addressed := strings.Cut(cmd, "@")
	return name == "/broadcast" && (!addressed || strings.EqualFold(to, b.me.Username))
}

// draftBroadcast records the broadcast an admin's message asks for as a
// draft, and shows the admin the message as its recipients will get it,
// then what sending it means, with the buttons that send it or drop it.
//
// The draft is keyed by its update, so a redelivery of the update finds the
// draft made the first time and shows it again.
func (b *Bot) draftBroadcast(ctx context.Context, c tele.Context, message, photo string) error {
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	in, problem := parseBroadcast(message, photo != "")
	if problem != nil {
		return b.reply(ctx, c, BroadcastRefusedScreen(lang, problem))
	}
	bc, _, err := b.broadcasts.CreateBroadcast(ctx, store.NewBroadcast{
		BotID: b.me.ID, UpdateID: int64(c.Update().ID), AdminID: c.Sender().ID,
		Segment: in.segment, Text: in.text, Photo: photo, Buttons: in.buttons,
	})
	if err != nil {
		return err
	}
	err = b.preview(c, bc)
	if e, ok := telegram.AsError(err); ok && e.Code == http.StatusBadRequest {
		// Telegram refuses what it would refuse each recipient (a link it
		// does not take): the draft can never be sent.
		if _, _, _, err := b.broadcasts.CancelBroadcast(ctx, bc.ID, store.StateDraft); err != nil {
			return err
		}
		return b.reply(ctx, c, BroadcastPreviewRefusedScreen(lang, e.Description))
	}
	if err := b.delivered(ctx, c, err); err != nil {
		return err
	}
	return b.reply(ctx, c, BroadcastPreviewScreen(lang, bc, b.freeRate()))
}

// preview sends the admin the broadcast's message as its recipients will get
// it: as the sender sends it, plain text with link previews.
func (b *Bot) preview(c tele.Context, bc store.Broadcast) error {
	var what any = bc.Text
	if bc.Photo != "" {
		what = &tele.Photo{File: tele.File{FileID: bc.Photo}, Caption: bc.Text}
	}
	var opts []any
	if len(bc.Buttons) > 0 {
		rows := make([][]tele.InlineButton, len(bc.Buttons))
		for i, row := range bc.Buttons {
			for _, btn := range row {
				rows[i] = append(rows[i], tele.InlineButton{Text: btn.Text, URL: btn.URL, Data: btn.Callback})
			}
		}
		opts = append(opts, &tele.ReplyMarkup{InlineKeyboard: rows})
	}
	return c.Send(what, opts...)
}

// freeRate is the sender's rate, in messages a second.
func (b *Bot) freeRate() float64 {
	if b.bcastRate > 0 {
		return b.bcastRate
	}
	return DefaultBroadcastRate
}

// onBroadcastStatus is /broadcast_status <id>; to anyone but an admin it is
// an unknown command.
func (b *Bot) onBroadcastStatus(ctx context.Context, c tele.Context) error {
	return b.onBroadcastCommand(ctx, c, func(lang string, p store.BroadcastProgress) Screen {
		return BroadcastStatusScreen(lang, p, b.freeRate())
	})
}

// onBroadcastCancel is /broadcast_cancel <id>: it asks first, as the
// status's Cancel button does. To anyone but an admin it is an unknown
// command.
func (b *Bot) onBroadcastCancel(ctx context.Context, c tele.Context) error {
	return b.onBroadcastCommand(ctx, c, func(lang string, p store.BroadcastProgress) Screen {
		return b.cancelQuestion(lang, p)
	})
}

// onBroadcastCommand answers a command about broadcast <id> with the screen
// screenFunc makes of its progress.
func (b *Bot) onBroadcastCommand(ctx context.Context, c tele.Context, screenFunc func(lang string, p store.BroadcastProgress) Screen) error {
	if may, err := b.broadcaster(ctx, c); !may || err != nil {
		return cmp.Or(err, b.onOther(ctx, c))
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(c.Message().Payload), "#"), 10, 64)
	if err != nil {
		return b.reply(ctx, c, BroadcastUsageScreen(lang))
	}
	p, found, err := b.progress(ctx, id)
	if err != nil {
		return err
	}
	if !found {
		return b.reply(ctx, c, BroadcastNotFoundScreen(lang, id))
	}
	return b.reply(ctx, c, screenFunc(lang, p))
}

// cancelQuestion asks whether to cancel a broadcast, or says why there is
// nothing to cancel.
func (b *Bot) cancelQuestion(lang string, p store.BroadcastProgress) Screen {
	if p.State != store.StateSending || p.CancelledAt != nil || p.Waiting() == 0 {
		return BroadcastStatusScreen(lang, p, b.freeRate())
	}
	return BroadcastCancelQuestionScreen(lang, p)
}

// onBroadcastButton answers the buttons of a broadcast's preview and status:
// to anyone but an admin they open the menu, as an unknown button does.
//
// Send and Send as paid confirm the draft once (store.ConfirmBroadcast): a
// second press, or a redelivery of the press, finds it confirmed and
// publishes its messages again, which their dedup ids make a no-op, so a
// press whose publishing failed half-way is finished by the next.
func (b *Bot) onBroadcastButton(ctx context.Context, c tele.Context, lang, action, arg string) error {
	if may, err := b.broadcaster(ctx, c); !may || err != nil {
		return cmp.Or(err, b.show(ctx, c, MenuScreen(lang, b.appURL)))
	}
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return b.show(ctx, c, BroadcastUsageScreen(lang))
	}
	switch action {
	case botui.ActionBroadcastSend, botui.ActionBroadcastSendPaid:
		bc, confirmed, found, err := b.broadcasts.ConfirmBroadcast(ctx, id, action == botui.ActionBroadcastSendPaid)
		if err != nil {
			return err
		}
		if found && bc.State == store.StateSending {
			if err := b.queueBroadcast(ctx, bc, !confirmed); err != nil {
				return err
			}
		}
	case botui.ActionBroadcastDiscard:
		if _, _, _, err := b.broadcasts.CancelBroadcast(ctx, id, store.StateDraft); err != nil {
			return err
		}
	case botui.ActionBroadcastCancelConfirm:
		p, found, err := b.progress(ctx, id)
		if err != nil {
			return err
		}
		// A broadcast all sent has nothing left to cancel: it stays as it
		// is, and its status says so.
		if found && p.Waiting() > 0 {
			_, cancelled, _, err := b.broadcasts.CancelBroadcast(ctx, id, store.StateSending)
			if err != nil {
				return err
			}
			if cancelled {
				b.log.Info().Ctx(ctx).Str("event", EventBroadcastCancelled).Int64("broadcast_id", id).
					Int64("admin_id", c.Sender().ID).Int("waiting", p.Waiting()).Msg("broadcast cancelled")
			}
		}
	}
	p, found, err := b.progress(ctx, id)
	if err != nil {
		return err
	}
	if !found {
		return b.show(ctx, c, BroadcastNotFoundScreen(lang, id))
	}
	if action == botui.ActionBroadcastCancel {
		return b.show(ctx, c, b.cancelQuestion(lang, p))
	}
	return b.show(ctx, c, BroadcastStatusScreen(lang, p, b.freeRate()))
}

// progress reads how far broadcast id got.
func (b *Bot) progress(ctx context.Context, id int64) (store.BroadcastProgress, bool, error) {
	failed, err := b.outbox.BroadcastFailures(ctx, id)
	if err != nil {
		return store.BroadcastProgress{}, false, err
	}
	return b.broadcasts.BroadcastProgress(ctx, id, failed)
}

// queueBroadcast publishes a confirmed broadcast's messages.
func (b *Bot) queueBroadcast(ctx context.Context, bc store.Broadcast, again bool) error {
	recipients, err := b.broadcasts.BroadcastRecipients(ctx, bc.ID)
	if err != nil {
		return err
	}
	published, duplicates, err := b.publishBroadcast(ctx, bc, recipients)
	if err != nil {
		return err
	}
	b.log.Info().Ctx(ctx).Str("event", EventBroadcastQueued).Int64("broadcast_id", bc.ID).Int64("admin_id", bc.AdminID).
		Str("segment", bc.Segment).Int("total", bc.Total).Bool("paid", bc.Paid).Bool("photo", bc.Photo != "").
		Int("published", published).Int("duplicates", duplicates).Bool("again", again).Msg("broadcast queued")
	return nil
}

// publishBroadcast publishes one command per recipient, a chunk at a time.
func (b *Bot) publishBroadcast(ctx context.Context, bc store.Broadcast, recipients []int64) (published, duplicates int, err error) {
	// The broadcast's own time, not the clock: a retry's commands are the
	// same, and the sender's queue age counts from when the admin confirmed.
	createdAt := timestamppb.New(*bc.ConfirmedAt)
	rows := make([]*vpnbotv1.ButtonRow, len(bc.Buttons))
	for i, row := range bc.Buttons {
		rows[i] = &vpnbotv1.ButtonRow{}
		for _, btn := range row {
			rows[i].Buttons = append(rows[i].Buttons, &vpnbotv1.Button{Text: btn.Text, Url: btn.URL, CallbackData: btn.Callback})
		}
	}
	for start := 0; start < len(recipients); start += broadcastChunk {
		chunk := recipients[start:min(start+broadcastChunk, len(recipients))]
		msgs := make([]*vpnbotv1.SendMessage, len(chunk))
		for i, userID := range chunk {
			msgs[i] = &vpnbotv1.SendMessage{
				DedupId:       BroadcastDedupID(bc.ID, userID),
				ChatId:        userID, // a private chat's id is its user's
				Text:          bc.Text,
				Rows:          rows,
				PhotoUrl:      bc.Photo, // sendPhoto takes a file_id where it takes a URL
				Priority:      vpnbotv1.Priority_PRIORITY_BROADCAST,
				CreatedAt:     createdAt,
				BroadcastId:   bc.ID,
				PaidBroadcast: bc.Paid,
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

// broadcastInput is a /broadcast as the admin typed it.
type broadcastInput struct {
	segment string
	text    string
	buttons [][]store.BroadcastButton
}

// Reasons a /broadcast is refused (BroadcastProblem.Reason).
const (
	RefusedUsage          = "usage"        // no such audience, or no text
	RefusedTooLong        = "too_long"     // more than a message (or caption) holds
	RefusedTooManyButtons = "too_many"     // more than MaxBroadcastButtons buttons
	RefusedButtonURL      = "button_url"   // a button's link is not https:// or tg://
	RefusedButtonLabel    = "button_label" // a button without a label
)

// BroadcastProblem is why a /broadcast was refused.
type BroadcastProblem struct {
	// Reason is one of the Refused* reasons.
	Reason string
	// N is the text's length (too long) or the number of buttons (too many).
	N int
	// Limit is what N may be at most.
	Limit int
	// Detail is the button's link at fault.
	Detail string
}

// buttonLine is a line of buttons: [Label](target), one or more.
var (
	buttonLine = regexp.MustCompile(`^\s*(\[[^\]\n]*\]\([^)\s]*\)\s*)+$`)
	buttonRx   = regexp.MustCompile(`\[([^\]\n]*)\]\(([^)\s]*)\)`)
)

// plansTarget is the target of a button that opens the plans.
const plansTarget = "plans"

// parseBroadcast reads "/broadcast[@bot] <audience> <text>", whose last
// lines may be buttons, [Label](https://link) or [Label](plans), several to
// a line making a row.
func parseBroadcast(message string, photo bool) (broadcastInput, *BroadcastProblem) {
	segment, text := broadcastArgs(message)
	if !slices.Contains(store.Segments, segment) {
		return broadcastInput{}, &BroadcastProblem{Reason: RefusedUsage}
	}
	lines := strings.Split(text, "\n")
	end := len(lines)
	for end > 0 && buttonLine.MatchString(lines[end-1]) {
		end--
	}
	in := broadcastInput{segment: segment, text: strings.TrimSpace(strings.Join(lines[:end], "\n"))}
	if in.text == "" {
		return broadcastInput{}, &BroadcastProblem{Reason: RefusedUsage}
	}
	limit := MaxBroadcastText
	if photo {
		limit = MaxBroadcastCaption
	}
	if n := utf8.RuneCountInString(in.text); n > limit {
		return broadcastInput{}, &BroadcastProblem{Reason: RefusedTooLong, N: n, Limit: limit}
	}
	count := 0
	for _, line := range lines[end:] {
		var row []store.BroadcastButton
		for _, m := range buttonRx.FindAllStringSubmatch(line, -1) {
			btn, problem := broadcastButton(strings.TrimSpace(m[1]), m[2])
			if problem != nil {
				return broadcastInput{}, problem
			}
			row = append(row, btn)
		}
		count += len(row)
		in.buttons = append(in.buttons, row)
	}
	if count > MaxBroadcastButtons {
		return broadcastInput{}, &BroadcastProblem{Reason: RefusedTooManyButtons, N: count, Limit: MaxBroadcastButtons}
	}
	return in, nil
}

// broadcastButton is a button of label that opens target: an https:// or
// tg:// link, or the plans.
func broadcastButton(label, target string) (store.BroadcastButton, *BroadcastProblem) {
	if label == "" {
		return store.BroadcastButton{}, &BroadcastProblem{Reason: RefusedButtonLabel, Detail: target}
	}
	if strings.EqualFold(target, plansTarget) {
		return store.BroadcastButton{Text: label, Callback: botui.NoticeCallback(botui.ActionPlans, "")}, nil
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "tg") || u.Host == "" {
		return store.BroadcastButton{}, &BroadcastProblem{Reason: RefusedButtonURL, Detail: target}
	}
	return store.BroadcastButton{Text: label, URL: target}, nil
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
