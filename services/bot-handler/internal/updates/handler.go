package updates

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// Durable is the name prefix of the bot-handler's consumers: partition p is
// read by "bot-handler-<p>", shared by every replica.
const Durable = "bot-handler"

// Outcomes of a delivery, the outcome label of vpnbot_bot_updates_total.
const (
	OutcomeHandled   = "handled"   // handled now and recorded in the inbox
	OutcomeDuplicate = "duplicate" // already in the inbox: acknowledged without effect
	OutcomeMalformed = "malformed" // not a Telegram update: dead-lettered
	OutcomeRejected  = "rejected"  // cannot succeed, e.g. Telegram refused the answer: dead-lettered
	OutcomeExpired   = "expired"   // failed past the handler deadline: given up
	OutcomeRetry     = "retry"     // failed for now (database, Telegram 429/5xx): retried
	OutcomeStale     = "stale"     // a button press older than CALLBACK_MAX_AGE: skipped
)

// EventCallbackStale is a button press skipped because it waited in the
// stream longer than CALLBACK_MAX_AGE (after an outage or a backlog): its
// age alone decides, not whether Telegram still takes an answer to it.
const EventCallbackStale = "CALLBACK_STALE"

// Inbox remembers which updates were handled; its read of an update also
// brings its user's ban, so the bot's ban gate costs no round trip of its
// own.
type Inbox interface {
	ReadInbox(ctx context.Context, botID, updateID, userID int64) (store.InboxRead, error)
	MarkProcessed(ctx context.Context, botID, updateID int64) error
}

// Processor handles one decoded update, its user's ban read, and says what
// kind it was. Its errors wrap bot.ErrRejected when retrying cannot help.
type Processor interface {
	ProcessBanned(ctx context.Context, u tele.Update, bannedAt *time.Time) (kind string, err error)
}

// Handler handles deliveries of TG_UPDATES; its Handle method is the
// consumer's HandleFunc.
type Handler struct {
	botID   int64
	inbox   Inbox
	bot     Processor
	log     zerolog.Logger
	updates *prometheus.CounterVec
	latency prometheus.Histogram
	// age is the update-reply SLI (docs/slo.md): latency leaves out the
	// time an update waited in the stream, which a user waits too.
	age prometheus.Histogram
	// callbackMaxAge is how long a button press may wait in the stream and
	// still be handled; 0 handles every press.
	callbackMaxAge time.Duration
}

// Option changes a Handler's defaults.
type Option func(*Handler)

// WithCallbackMaxAge skips button presses that waited in the stream longer
// than maxAge, measured from when the gateway published them: the person who
// pressed has moved on, so acting on them (editing a menu minutes later)
// would only surprise. A younger press is acted on even when Telegram
// refuses its answer (answered by an earlier delivery, or too late): see
// bot.answerCallback.
func WithCallbackMaxAge(maxAge time.Duration) Option {
	return func(h *Handler) { h.callbackMaxAge = maxAge }
}

// NewHandler returns the handler of bot botID's updates and registers its
// metrics on reg.
func NewHandler(botID int64, inbox Inbox, p Processor, log zerolog.Logger, reg prometheus.Registerer, opts ...Option) (*Handler, error) {
	h := &Handler{
		botID: botID,
		inbox: inbox,
		bot:   p,
		log:   log,
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_bot_updates_total",
			Help: "Deliveries of Telegram updates by outcome (handled, duplicate, malformed, rejected, expired, retry, stale).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vpnbot_bot_update_duration_seconds",
			Help:    "Time to handle one update, inbox included, for updates handled now.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25},
		}),
		age: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vpnbot_bot_update_age_seconds",
			Help: "Time from the gateway storing an update in the stream to its being handled (the user's wait for the answer), for updates handled now.",
			// 2 is the update-reply SLO's threshold (docs/slo.md).
			Buckets: []float64{.1, .25, .5, 1, 2, 5, 10, 30, 60, 300},
		}),
	}
	for _, o := range opts {
		o(h)
	}
	for _, c := range []prometheus.Collector{h.updates, h.latency, h.age} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the update metrics: %w", err)
		}
	}
	// Zero series for every outcome, so alerts on their rates see them from the start.
	for _, o := range []string{OutcomeHandled, OutcomeDuplicate, OutcomeMalformed, OutcomeRejected, OutcomeExpired, OutcomeRetry, OutcomeStale} {
		h.updates.WithLabelValues(o)
	}
	return h, nil
}

// Handle handles one delivery of an update, decoded once (see the package
// doc).
func (h *Handler) Handle(ctx context.Context, d bus.Delivery) error {
	start := time.Now()
	u, meta, err := telegram.DecodeUpdate(d.Data)
	if err != nil {
		h.updates.WithLabelValues(OutcomeMalformed).Inc()
		return bus.Permanent(fmt.Errorf("decoding the update in %s seq %d: %w", d.Subject, d.StreamSeq, err))
	}
	log := h.log.With().Int64("update_id", meta.UpdateID).Int64("chat_id", meta.ChatID).Ctx(ctx).Logger()
	if waited := time.Since(d.Published); u.Callback != nil && h.callbackMaxAge > 0 && waited > h.callbackMaxAge {
		h.updates.WithLabelValues(OutcomeStale).Inc()
		log.Info().Str("event", EventCallbackStale).Dur("waited", waited).Str("data", u.Callback.Data).
			Msg("button press too old to answer; skipped")
		return nil
	}

	kind, duplicate, err := h.handle(ctx, meta.UpdateID, u)
	switch {
	case err == nil && duplicate:
		h.updates.WithLabelValues(OutcomeDuplicate).Inc()
		log.Debug().Uint64("deliveries", d.NumDelivered).Msg("update already handled; acknowledged without effect")
		return nil
	case err == nil:
		took := time.Since(start)
		h.updates.WithLabelValues(OutcomeHandled).Inc()
		obs.Observe(ctx, h.latency, took.Seconds())
		// Published is the stream's timestamp of the gateway's publish, on
		// the NATS server's clock; zero only for a delivery made up in a test.
		if !d.Published.IsZero() {
			obs.Observe(ctx, h.age, time.Since(d.Published).Seconds())
		}
		log.Info().Str("event", obs.EventUpdateHandled).Str("kind", kind).
			Dur("duration", took).Uint64("deliveries", d.NumDelivered).Msg("update handled")
		return nil
	case errors.Is(err, bot.ErrRejected):
		h.updates.WithLabelValues(OutcomeRejected).Inc()
		return bus.Permanent(err)
	case ctx.Err() != nil:
		// The consumer gives a failure past the deadline up (timeout, DLQ),
		// not retried: whatever hung would most likely hang again.
		h.updates.WithLabelValues(OutcomeExpired).Inc()
		return fmt.Errorf("gave up at the handler deadline: %w", err)
	default:
		h.updates.WithLabelValues(OutcomeRetry).Inc()
		if e, ok := telegram.AsError(err); ok && e.RetryAfter > 0 {
			return bus.RetryAfter(err, e.RetryAfter)
		}
		return err
	}
}

// handle runs the update through the inbox and the bot; duplicate means it
// had been handled before.
func (h *Handler) handle(ctx context.Context, updateID int64, u tele.Update) (kind string, duplicate bool, err error) {
	var userID int64
	if user := bot.UpdateUser(u); user != nil {
		userID = user.ID
	}
	read, err := h.inbox.ReadInbox(ctx, h.botID, updateID, userID)
	if err != nil || read.Done {
		return "", read.Done, err
	}
	kind, err = h.bot.ProcessBanned(ctx, u, read.BannedAt)
	if err != nil {
		return kind, false, fmt.Errorf("handling update %d (%s): %w", updateID, kind, err)
	}
	// Recorded after the handler succeeded: a crash in between means the
	// update runs again (the user may get an answer twice), never that it is
	// lost.
	if err := h.inbox.MarkProcessed(ctx, h.botID, updateID); err != nil {
		return kind, false, err
	}
	return kind, false, nil
}
