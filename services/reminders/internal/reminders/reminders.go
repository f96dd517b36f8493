package reminders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/reminders/internal/feed"
	"github.com/vpnbot/vpnbot/services/reminders/internal/store"
)

// Event names of the reminders worker's log lines.
const (
	// EventReminderSent is a reminder handed to the sender.
	EventReminderSent = "REMINDER_SENT"
	// EventReminderFailed is a reminder that could not be handed to the
	// sender; its claim is released and a later iteration sends it.
	EventReminderFailed = "REMINDER_FAILED"
	// EventReminderInvalid is a reminder the OUTBOX refuses as unsendable;
	// it stays claimed, since sending it again would fail again.
	EventReminderInvalid = "REMINDER_INVALID"
)

// Defaults of the Config fields left zero.
const (
	DefaultBatchSize = 500
	// DefaultGrace is expiry-cleanup's: how long an expired period keeps
	// its key.
	DefaultGrace = time.Hour
	// DefaultClaimTTL outlasts an iteration at the default timeout: a
	// live replica's claim is taken over only when its iteration must have
	// ended.
	DefaultClaimTTL = worker.DefaultIterationTimeout + 30*time.Second
	// DefaultRenewLead is how long before its expiry a period is renewed
	// from the balance: a day, so that a short balance is told in time to
	// top it up.
	DefaultRenewLead = 24 * time.Hour
)

const (
	// publishTimeout bounds one publish, so that a NATS outage fails the
	// iteration quickly instead of at its timeout.
	publishTimeout = 10 * time.Second
	// releaseTimeout bounds releasing claims, or recording them published,
	// which runs even when the iteration's context has ended (that is often
	// why they are released).
	releaseTimeout = 5 * time.Second
)

// Config tunes a Reminder. Zero fields take the defaults.
type Config struct {
	// Stages are the reminder stages (default DefaultStages).
	Stages Stages
	// BatchSize is how many subscriptions one claim takes; an iteration
	// claims batch after batch until fewer are due.
	BatchSize int
	// Grace is how long after its expiry a period's key stops working
	// (expiry-cleanup's EXPIRY_GRACE): the notice of the end tells it, and
	// is due only until then.
	Grace time.Duration
	// ClaimTTL is how long a claimed reminder that was not published yet
	// keeps other replicas off while its claimant's session lives: longer
	// than an iteration can run. A claim whose claimant died is taken over
	// at once.
	ClaimTTL time.Duration
	// RenewLead is how long before its expiry a period with auto-renewal
	// on is renewed from the balance (default DefaultRenewLead).
	RenewLead time.Duration
	// Feed is the sales feed posted after the reminders (off while its
	// ChatID is 0); its clock is NowFunc.
	Feed feed.Config
	// NowFunc is the clock (default time.Now); tests move it.
	NowFunc func() time.Time
}

func (c Config) withDefaults() Config {
	if len(c.Stages) == 0 {
		c.Stages = DefaultStages()
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.ClaimTTL <= 0 {
		c.ClaimTTL = DefaultClaimTTL
	}
	if c.RenewLead <= 0 {
		c.RenewLead = DefaultRenewLead
	}
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	return c
}

// Reminder runs the worker's iterations. Make it with New; Iterate is the
// worker.IterationFunc.
type Reminder struct {
	cfg    Config
	stages []store.Stage
	store  *store.Store
	shop   *shop.Shop
	js     jetstream.JetStream
	log    zerolog.Logger
	sent   *prometheus.CounterVec
	// renewals counts the auto-renewals by outcome.
	renewals *prometheus.CounterVec
	feed     *feed.Feed
}

// New returns a Reminder reminding the subscriptions of pool's database
// through js's OUTBOX stream, and renewing those with auto-renewal on. Its
// metrics are registered on reg (nil: not exported).
func New(cfg Config, pool *pgxpool.Pool, js jetstream.JetStream, log zerolog.Logger, reg prometheus.Registerer) (*Reminder, error) {
	if pool == nil || js == nil {
		return nil, errors.New("reminders: pool and JetStream are required")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Stages.Validate(); err != nil {
		return nil, fmt.Errorf("reminders: %w", err)
	}
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_reminders_sent_total",
		Help: "Expiry reminders handed to the sender, by stage (reminder_72h, ..., and paid_ended: the end itself).",
	}, []string{"stage"})
	renewals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_reminders_renewals_total",
		Help: "Periods with auto-renewal due: renewed from the balance, or found short of it (again each iteration until renewed or ended).",
	}, []string{"outcome"})
	if reg != nil {
		for _, c := range []prometheus.Collector{sent, renewals} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering reminders metrics: %w", err)
			}
		}
	}
	fcfg := cfg.Feed
	fcfg.NowFunc = cfg.NowFunc
	fd, err := feed.New(fcfg, pool, js, log, reg)
	if err != nil {
		return nil, fmt.Errorf("reminders: %w", err)
	}
	for _, outcome := range []string{outcomeRenewed, outcomeShort} {
		renewals.WithLabelValues(outcome)
	}
	// The end itself is the stage of length 0.
	stages := []store.Stage{{Kind: notify.KindPaidEnded}}
	for _, d := range cfg.Stages {
		stages = append(stages, store.Stage{Before: d, Kind: notify.ReminderKind(d)})
	}
	for _, st := range stages {
		// Present from the start, so a dashboard shows 0 rather than nothing.
		sent.WithLabelValues(st.Kind)
	}
	return &Reminder{
		cfg: cfg, stages: stages, store: store.New(pool), js: js, log: log, sent: sent, renewals: renewals, feed: fd,
		// The shop renews on the worker's clock, so that a renewal is due,
		// and extends, by the time the iteration reads.
		shop: shop.New(pool, shop.Config{NowFunc: cfg.NowFunc}),
	}, nil
}

// Iterate is one iteration: renew the periods due from the balance (see
// renew), then claim the due reminders and notices of the end and hand them
// to the sender, batch after batch. Renewing first spares a period renewed
// now the reminder of the expiry it no longer has. Its items are renewed,
// short (a balance short of a renewal, tried again next iteration),
// receipts and warnings (the auto-renewal's messages handed to the sender),
// sent (the reminders), ended (the notices of the end), duplicate (the
// OUTBOX had a message already: sent by an earlier attempt), skipped (a
// larger stage claimed without a message, because a more urgent one is
// due), failed (released for a later iteration) and invalid.
//
// Last, the sales feed is posted (feed.Feed.Post, with its own items), when
// it is on: it is for the seller, and waits behind the users' messages.
//
// A failure of any part ends that part only: renewals that fail do not
// hold the reminders back, nor the other way round, and neither waits on
// the feed.
func (r *Reminder) Iterate(ctx context.Context) (worker.Result, error) {
	res := worker.Result{}
	err := r.renew(ctx, res)
	err = errors.Join(err, r.remind(ctx, res))
	return res, errors.Join(err, r.feed.Post(ctx, res))
}

// remind claims the due reminders and notices of the end and hands them to
// the sender, batch after batch.
func (r *Reminder) remind(ctx context.Context, res worker.Result) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reminding: %w", context.Cause(ctx))
		}
		now := r.cfg.NowFunc()
		claims, err := r.store.ClaimDue(ctx, now, now.Add(-r.cfg.ClaimTTL), r.stages, r.cfg.Grace, r.cfg.BatchSize)
		if err != nil {
			return err
		}
		toSend := 0
		for _, c := range claims {
			if c.Send {
				toSend++
			} else {
				res["skipped"]++
			}
		}
		if err := r.sendAll(ctx, claims, now, res); err != nil {
			return err
		}
		// A short batch is the last one; a full one may have left more due.
		if toSend < r.cfg.BatchSize {
			return nil
		}
	}
}

// sendAll publishes the reminders among claims, and records the ones the
// OUTBOX took as published. On the first failure it releases that claim and
// every one not yet published: when the OUTBOX cannot take one, it is
// unlikely to take the next, and the next iteration sends them all.
func (r *Reminder) sendAll(ctx context.Context, claims []store.Claim, now time.Time, res worker.Result) error {
	var published []store.Claim
	var err error
	for i, c := range claims {
		if !c.Send {
			continue
		}
		if err = r.send(ctx, c, now, res); err != nil {
			var unsent []store.Claim
			for _, rest := range claims[i:] {
				if rest.Send {
					unsent = append(unsent, rest)
				}
			}
			res["failed"] += len(unsent)
			err = errors.Join(err, r.release(ctx, unsent))
			break
		}
		published = append(published, c)
	}
	return errors.Join(err, r.markPublished(ctx, published, now))
}

// message is what the claim c sends: the reminder of its stage, or for the
// stage of length 0 the notice of the end, which says when the key stops.
func (r *Reminder) message(c store.Claim, now time.Time) *vpnbotv1.SendMessage {
	lang := notify.Language(c.Language)
	if c.Stage.Before == 0 {
		return notify.PaidEnded(lang, c.ChatID, c.SubscriptionID, c.ExpiresAt, c.ExpiresAt.Add(r.cfg.Grace))
	}
	return notify.Reminder(lang, c.ChatID, c.SubscriptionID, c.Stage.Before, c.ExpiresAt, now)
}

// send publishes one reminder. A reminder the OUTBOX refuses as invalid is
// logged and counted, and keeps its claim.
func (r *Reminder) send(ctx context.Context, c store.Claim, now time.Time, res worker.Result) error {
	log := r.log.With().Int64("subscription_id", c.SubscriptionID).Int64("user_id", c.UserID).
		Str("stage", c.Stage.Kind).Time("expires_at", c.ExpiresAt).Ctx(ctx).Logger()
	msg := r.message(c, now)
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	duplicate, err := outbox.Publish(pctx, r.js, msg)
	cancel()
	switch {
	case errors.Is(err, outbox.ErrInvalid):
		log.Error().Str("event", EventReminderInvalid).Err(err).Msg("reminder cannot be sent; dropped")
		res["invalid"]++
		return nil
	case err != nil:
		log.Warn().Str("event", EventReminderFailed).Err(err).Msg("reminder not handed to the sender; retrying next iteration")
		return fmt.Errorf("reminding subscription %d (%s): %w", c.SubscriptionID, c.Stage.Kind, err)
	case duplicate:
		// An earlier attempt published it and lost the ack; the OUTBOX
		// kept the one copy.
		res["duplicate"]++
	default:
		r.sent.WithLabelValues(c.Stage.Kind).Inc()
		if c.Stage.Before == 0 {
			res["ended"]++
		} else {
			res["sent"]++
		}
	}
	log.Info().Str("event", EventReminderSent).Str("dedup_id", msg.GetDedupId()).Bool("duplicate", duplicate).
		Msg("reminder handed to the sender")
	return nil
}

// markPublished records claims as published, even when ctx has ended. When
// that fails they stay pending, and are taken over and published again (as
// duplicates the OUTBOX drops) once their ClaimTTL has passed.
func (r *Reminder) markPublished(ctx context.Context, claims []store.Claim, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	return r.store.MarkPublished(ctx, claims, now)
}

// release gives unsent claims back, even when ctx has ended.
func (r *Reminder) release(ctx context.Context, claims []store.Claim) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	var errs []error
	for _, c := range claims {
		if err := r.store.Release(ctx, c); err != nil {
			// Lost until the period's next stage or expiry: say so.
			r.log.Error().Ctx(ctx).Str("event", EventReminderFailed).Err(err).Int64("subscription_id", c.SubscriptionID).
				Str("stage", c.Stage.Kind).Msg("reminder claimed but neither sent nor released; it will not be sent")
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
