package feed

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/reminders/internal/store"
)

// Event names of the feed's log lines.
const (
	// EventPosted is a feed message handed to the sender, first time.
	EventPosted = "FEED_POSTED"
	// EventFailed is a feed message not handed to the sender: it stays
	// claimed, and the next pass of any replica publishes it again before
	// anything after it.
	EventFailed = "FEED_FAILED"
	// EventInvalid is a feed message the OUTBOX refuses as unsendable; it
	// is dropped, so that it does not hold back the feed.
	EventInvalid = "FEED_INVALID"
)

// DefaultSummaryHour is the UTC hour of the daily summary when
// ADMIN_FEED_SUMMARY_HOUR is unset.
const DefaultSummaryHour = 9

// Admin actions (admin_audit.action) with a line of their own.
const (
	actionBan   = "ban"
	actionUnban = "unban"
)

// ledgerKinds are the ledger rows posted: sales and what undoes them.
// Promo, referral and grant rows are left out: an admin's grant is posted as
// its admin action, and promo codes and referrals are in /stats.
var ledgerKinds = []string{shop.LedgerTrial, shop.LedgerPayment, shop.LedgerTopUp, shop.LedgerPurchase,
	shop.LedgerRenewal, shop.LedgerRefund}

// actions are the admin actions posted. An admin's refund is left out (its
// ledger row is posted), and so are messages, role changes and new links,
// which touch neither sales nor access.
var actions = []string{actionBan, actionUnban, "extend", "shorten", "end", "grant_balance"}

const (
	// maxLines and maxChars bound one message: Telegram takes up to 4096
	// characters, and about 20 messages a minute in a group, so events go
	// many to a message.
	maxLines = 30
	maxChars = 4096
	// firstLookback is how far back a feed starts when it is first
	// switched on for a chat: the last day, not the whole history.
	firstLookback = 24 * time.Hour
	// catchUpDays is how many days back a summary a feed missed (down at
	// its summary hour) is still posted.
	catchUpDays = 7
	// settle is the longest an event may take from its created_at to its
	// commit and still be posted: the feed's start follows the clock this
	// far behind. Events commit within seconds of their stamp.
	settle = time.Hour
	// publishTimeout bounds one publish; releaseTimeout recording it, or
	// ending the pass's hold, after the iteration's context has ended.
	publishTimeout = 10 * time.Second
	releaseTimeout = 5 * time.Second
)

// Config tunes a Feed.
type Config struct {
	// ChatID is the seller's chat (ADMIN_FEED_CHAT); 0 turns the feed off.
	ChatID int64
	// SummaryHour is the UTC hour (0–23) from which the previous day's
	// summary is posted.
	SummaryHour int
	// Lang is the feed's language, "en" or "ru".
	Lang string
	// NowFunc is the clock (default time.Now).
	NowFunc func() time.Time
}

// Feed posts the shop's events to the seller's chat. Make it with New; Post
// is one pass.
type Feed struct {
	cfg    Config
	store  *store.Store
	js     jetstream.JetStream
	log    zerolog.Logger
	posted prometheus.Counter
}

// New returns the feed of cfg.ChatID over pool's database, through js's
// OUTBOX stream. Its metric goes on reg (nil: not exported).
func New(cfg Config, pool *pgxpool.Pool, js jetstream.JetStream, log zerolog.Logger, reg prometheus.Registerer) (*Feed, error) {
	if cfg.SummaryHour < 0 || cfg.SummaryHour > 23 {
		return nil, fmt.Errorf("feed: summary hour %d is not 0–23", cfg.SummaryHour)
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	posted := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vpnbot_reminders_feed_events_total",
		Help: "Events (trials, payments, top-ups, purchases, renewals, refunds, admin actions) posted to the admin feed chat.",
	})
	if reg != nil {
		if err := reg.Register(posted); err != nil {
			return nil, fmt.Errorf("registering the feed's metric: %w", err)
		}
	}
	return &Feed{cfg: cfg, store: store.New(pool), js: js, log: log.With().Int64("feed_chat", cfg.ChatID).Logger(),
		posted: posted}, nil
}

// Post is one pass of the feed, when it is on: it holds the chat's feed (a
// replica whose pass finds it held skips, counted feed_busy: another is
// posting), hands the sender first any message claimed and not published
// (a pass that failed or died), then the events not posted yet, a message
// per batch, then the previous day's summary when it is due and not posted.
// Messages are published one after the other, each once the one before was
// acked, so the chat gets them in the order claimed. Its items are feed
// (messages handed to the sender), feed_events (events in them),
// feed_duplicate and feed_invalid.
func (f *Feed) Post(ctx context.Context, res worker.Result) (err error) {
	if f.cfg.ChatID == 0 {
		return nil
	}
	now := f.cfg.NowFunc()
	g, ok, err := f.store.GuardFeed(ctx, f.cfg.ChatID, now.Add(-firstLookback))
	if err != nil {
		return err
	}
	if !ok {
		res["feed_busy"]++
		return nil
	}
	defer func() {
		if err == nil {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if rerr := g.Rollback(rctx); rerr != nil {
			f.log.Warn().Ctx(ctx).Err(rerr).Msg("feed hold not released; it ends with its connection")
		}
	}()
	if err := f.republish(ctx, res); err != nil {
		return err
	}
	if err := f.postEvents(ctx, g.Since(), now, res); err != nil {
		return err
	}
	if err := f.postSummary(ctx, now, res); err != nil {
		return err
	}
	if err := g.Advance(ctx, now.Add(-settle)); err != nil {
		return err
	}
	return g.Commit(ctx)
}

// republish hands the sender the messages claimed and not published, oldest
// first: a later message must not overtake them.
func (f *Feed) republish(ctx context.Context, res worker.Result) error {
	for {
		m, found, err := f.store.UnpublishedFeedMessage(ctx)
		if err != nil || !found {
			return err
		}
		if err := f.publish(ctx, m, res); err != nil {
			return err
		}
	}
}

// postEvents posts the events created since since and not posted yet,
// batch after batch, a message each.
func (f *Feed) postEvents(ctx context.Context, since, now time.Time, res worker.Result) error {
	t := textsIn(f.cfg.Lang)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("posting the feed: %w", context.Cause(ctx))
		}
		evs, err := f.store.UnclaimedFeedEvents(ctx, since, ledgerKinds, actions, maxLines)
		if err != nil || len(evs) == 0 {
			return err
		}
		text, n := compose(t, evs)
		m, claimed, err := f.store.ClaimFeedMessage(ctx, store.FeedMessage{
			DedupID: "feed:" + evs[0].Source + ":" + strconv.FormatInt(evs[0].ID, 10),
			ChatID:  f.cfg.ChatID, Text: text}, evs[:n], now)
		if err != nil {
			return err
		}
		if !claimed {
			return fmt.Errorf("posting the feed: events from %s %d were claimed by another pass", evs[0].Source, evs[0].ID)
		}
		if err := f.publish(ctx, m, res); err != nil {
			return err
		}
		if len(evs) < maxLines && n == len(evs) {
			return nil
		}
	}
}

// compose writes the lines of the first events that fit one message, and
// says how many that is: at least one, so that the feed moves on (a line is
// far shorter than a message; one that is not, the OUTBOX refuses, and it
// is dropped).
func compose(t *feedTexts, evs []store.FeedEvent) (text string, n int) {
	chars := 0
	for _, e := range evs {
		line := t.line(e)
		add := utf8.RuneCountInString(line)
		if n > 0 {
			add++ // the newline before it
		}
		if n > 0 && chars+add > maxChars {
			break
		}
		if n > 0 {
			text += "\n"
		}
		text += line
		chars += add
		n++
	}
	return text, n
}

// postSummary posts the summary of each day that is due and was not
// posted, oldest first: the day before now's once it is SummaryHour, and
// any of the catchUpDays before it that a feed down at its summary hour
// missed, back to the day before its first message (a feed switched on
// sums up the day before, not the whole history).
func (f *Feed) postSummary(ctx context.Context, now time.Time, res worker.Result) error {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	yesterday := today.AddDate(0, 0, -1)
	var days []time.Time
	var ids []string
	for d := today.AddDate(0, 0, -catchUpDays); d.Before(today); d = d.AddDate(0, 0, 1) {
		days, ids = append(days, d), append(ids, summaryID(d))
	}
	claimed, first, err := f.store.FeedMessagesClaimed(ctx, f.cfg.ChatID, ids)
	if err != nil {
		return err
	}
	for i, day := range days {
		due := day.Before(yesterday) || now.Hour() >= f.cfg.SummaryHour
		missed := !first.IsZero() && !day.Before(first.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1))
		if claimed[ids[i]] || !due || (!missed && !day.Equal(yesterday)) {
			continue
		}
		if err := f.postDaySummary(ctx, now, day, res); err != nil {
			return err
		}
	}
	return nil
}

// summaryID is the dedup id of day's summary.
func summaryID(day time.Time) string { return "feed:summary:" + day.Format(time.DateOnly) }

// postDaySummary claims and posts the summary of day.
func (f *Feed) postDaySummary(ctx context.Context, now, day time.Time, res worker.Result) error {
	dedupID := summaryID(day)
	sum, err := f.store.Summary(ctx, day, actionBan)
	if err != nil {
		return err
	}
	m, claimed, err := f.store.ClaimFeedMessage(ctx, store.FeedMessage{DedupID: dedupID, ChatID: f.cfg.ChatID,
		Text: textsIn(f.cfg.Lang).summaryText(day, sum)}, nil, now)
	if err != nil || !claimed {
		return err
	}
	return f.publish(ctx, m, res)
}

// publish hands message m to the sender and records it published. One the
// OUTBOX refuses as invalid is recorded published too, unsent: it would be
// refused again, and hold back every message after it.
func (f *Feed) publish(ctx context.Context, m store.FeedMessage, res worker.Result) error {
	log := f.log.With().Str("dedup_id", m.DedupID).Int("events", m.Events).Ctx(ctx).Logger()
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	duplicate, err := outbox.Publish(pctx, f.js, &vpnbotv1.SendMessage{
		DedupId:  m.DedupID,
		ChatId:   m.ChatID,
		Text:     m.Text,
		Priority: vpnbotv1.Priority_PRIORITY_BROADCAST,
	})
	cancel()
	invalid := errors.Is(err, outbox.ErrInvalid)
	switch {
	case invalid:
		log.Error().Str("event", EventInvalid).Err(err).Msg("feed message cannot be sent; dropped")
		res["feed_invalid"]++
	case err != nil:
		log.Warn().Str("event", EventFailed).Err(err).Msg("feed message not handed to the sender; published again by the next pass")
		return fmt.Errorf("posting feed message %s: %w", m.DedupID, err)
	case duplicate:
		// An earlier pass published it and did not record it.
		res["feed_duplicate"]++
	default:
		res["feed"]++
		res["feed_events"] += m.Events
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	first, err := f.store.FeedMessagePublished(rctx, m.ID, f.cfg.NowFunc())
	if err != nil {
		return err
	}
	if first && !invalid {
		f.posted.Add(float64(m.Events))
		log.Info().Str("event", EventPosted).Bool("duplicate", duplicate).Msg("feed message handed to the sender")
	}
	return nil
}
