package notifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/trial-notifier/internal/store"
)

// Event names of the trial-notifier's log lines.
const (
	// EventNoticeSent is a notice handed to the sender.
	EventNoticeSent = "TRIAL_NOTICE_SENT"
	// EventNoticeLost is a notice that could not be published and whose
	// claim could not be released either: it will not be sent.
	EventNoticeLost = "TRIAL_NOTICE_LOST"
)

// Defaults of the Config fields left zero.
const (
	DefaultBatchSize = 100
	// DefaultMaxAge is the OUTBOX's own limit: a notice a week late is no
	// longer worth sending.
	DefaultMaxAge = 7 * 24 * time.Hour
	// DefaultGrace is expiry-cleanup's: how long an expired period keeps
	// its key.
	DefaultGrace = time.Hour
	// DefaultClaimTTL outlasts an iteration at the default timeout: a live
	// replica's claim is taken over only when its iteration must have ended.
	DefaultClaimTTL = worker.DefaultIterationTimeout + 30*time.Second
)

// NeverStartedAfter is how long after registering a user who has not taken
// the trial is nudged to.
const NeverStartedAfter = 24 * time.Hour

// releaseTimeout bounds releasing the claims of a batch that failed to
// publish, or recording a published one; it runs even when the iteration's
// own context has ended (its timeout is a likely cause of the failure), or
// the notices would be lost (or, published, sent again as duplicates).
const releaseTimeout = 5 * time.Second

// Config tunes a Notifier. Zero fields take the defaults.
type Config struct {
	// BatchSize is how many notices are claimed and published at once;
	// each kind's claims go on, a batch at a time, until one comes back
	// short.
	BatchSize int
	// MaxAge is how long after falling due a never-started nudge is still
	// sent.
	MaxAge time.Duration
	// Grace is how long after its expiry a period's key stops working
	// (expiry-cleanup's EXPIRY_GRACE): the trial-ended notice tells it, and
	// is due only until then.
	Grace time.Duration
	// ClaimTTL is how long a claimed notice that was not published yet
	// keeps other replicas off while its claimant's session lives: longer
	// than an iteration can run. A claim whose claimant died is taken over
	// at once.
	ClaimTTL time.Duration
	// Leads are how long before a trial's end its "ends soon" notices fall
	// due (default DefaultLeads).
	Leads Leads
	// NowFunc is the clock (default time.Now).
	NowFunc func() time.Time
}

func (c Config) withDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.ClaimTTL <= 0 {
		c.ClaimTTL = DefaultClaimTTL
	}
	if c.Leads == (Leads{}) {
		c.Leads = DefaultLeads
	}
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	return c
}

// Notifier runs the trial-notifier's iterations. Make it with New; Iterate
// is the worker.IterationFunc.
type Notifier struct {
	cfg   Config
	store *store.Store
	js    jetstream.JetStream
	log   zerolog.Logger
	// endingFirst and endingLast select the trials due the "ends soon"
	// notices, at the configured leads. The first is claimed only until the
	// last one's lead: when it was missed, the last one goes out alone.
	endingFirst, endingLast store.Ending
	// ended selects the trials that ran out and keep their key for the
	// grace: the trial-ended notice is due while the key still works.
	ended store.Ending
}

// New returns a Notifier reading pool and publishing on js's OUTBOX stream.
func New(cfg Config, pool *pgxpool.Pool, js jetstream.JetStream, log zerolog.Logger) (*Notifier, error) {
	if pool == nil || js == nil {
		return nil, errors.New("trial notifier: pool and JetStream are required")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Leads.Validate(); err != nil {
		return nil, fmt.Errorf("trial notifier: leads %s: %w", cfg.Leads, err)
	}
	return &Notifier{
		cfg: cfg, store: store.New(pool, cfg.ClaimTTL), js: js, log: log,
		endingFirst: store.Ending{Kind: notify.TrialEndsSoonKind(cfg.Leads.First), Lead: cfg.Leads.First, Until: cfg.Leads.Last},
		endingLast:  store.Ending{Kind: notify.TrialEndsSoonKind(cfg.Leads.Last), Lead: cfg.Leads.Last},
		ended:       store.Ending{Kind: notify.KindTrialEnded, Until: -cfg.Grace},
	}, nil
}

// pass is one kind of notice: how its due notices are claimed, and how one
// is written in its user's language.
type pass struct {
	kind  string
	claim func(ctx context.Context, now time.Time, limit int) ([]store.Notice, error)
	write func(nt store.Notice, lang string) *vpnbotv1.SendMessage
}

// passes lists the kinds of notice, most urgent first.
func (n *Notifier) passes() []pass {
	return []pass{{
		kind: n.endingLast.Kind,
		claim: func(ctx context.Context, now time.Time, limit int) ([]store.Notice, error) {
			return n.store.ClaimEnding(ctx, n.endingLast, now, limit)
		},
		write: func(nt store.Notice, lang string) *vpnbotv1.SendMessage {
			return notify.TrialEndsSoonLast(lang, nt.ChatID, nt.SubscriptionID, nt.ExpiresAt, n.endingLast.Lead)
		},
	}, {
		kind: n.endingFirst.Kind,
		claim: func(ctx context.Context, now time.Time, limit int) ([]store.Notice, error) {
			return n.store.ClaimEnding(ctx, n.endingFirst, now, limit)
		},
		write: func(nt store.Notice, lang string) *vpnbotv1.SendMessage {
			return notify.TrialEndsSoonFirst(lang, nt.ChatID, nt.SubscriptionID, nt.ExpiresAt, n.endingFirst.Lead)
		},
	}, {
		kind: n.ended.Kind,
		claim: func(ctx context.Context, now time.Time, limit int) ([]store.Notice, error) {
			return n.store.ClaimEnding(ctx, n.ended, now, limit)
		},
		write: func(nt store.Notice, lang string) *vpnbotv1.SendMessage {
			return notify.TrialEnded(lang, nt.ChatID, nt.SubscriptionID, nt.ExpiresAt, nt.ExpiresAt.Add(n.cfg.Grace))
		},
	}, {
		kind: notify.KindNeverStarted,
		claim: func(ctx context.Context, now time.Time, limit int) ([]store.Notice, error) {
			return n.store.ClaimNeverStarted(ctx, notify.KindNeverStarted, now, NeverStartedAfter, n.cfg.MaxAge, limit)
		},
		write: func(nt store.Notice, lang string) *vpnbotv1.SendMessage {
			return notify.TrialNeverStarted(lang, nt.ChatID, nt.UserID)
		},
	}}
}

// Iterate is one iteration: a pass over each kind of notice, most urgent
// first. Its items are the notices sent by kind (the "ends soon" notices
// named after their leads, trial_1h and trial_24h by default, then
// trial_ended, never_started), failed (claimed but not published; retried
// by the next iteration) and duplicates (published before, dropped by the
// OUTBOX).
func (n *Notifier) Iterate(ctx context.Context) (worker.Result, error) {
	res := worker.Result{}
	for _, p := range n.passes() {
		// The first failure (the database or NATS is down) ends the
		// iteration: the other kinds would fail the same way.
		if err := n.run(ctx, p, res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// run claims and publishes the due notices of p's kind, a batch at a time.
func (n *Notifier) run(ctx context.Context, p pass, res worker.Result) error {
	for {
		now := n.cfg.NowFunc()
		notices, err := p.claim(ctx, now, n.cfg.BatchSize)
		if err != nil {
			return err
		}
		if len(notices) == 0 {
			return nil
		}
		msgs := make([]*vpnbotv1.SendMessage, len(notices))
		for i, nt := range notices {
			msgs[i] = p.write(nt, notify.Language(nt.Language))
		}
		_, duplicates, err := outbox.PublishBatch(ctx, n.js, msgs)
		if err != nil {
			res["failed"] += len(notices)
			n.release(ctx, notices, err)
			return fmt.Errorf("publishing %d %s notices: %w", len(notices), p.kind, err)
		}
		res[p.kind] += len(notices)
		if duplicates > 0 {
			res["duplicates"] += duplicates
		}
		for i, nt := range notices {
			n.log.Info().Ctx(ctx).Str("event", EventNoticeSent).Str("kind", nt.Kind).Int64("user_id", nt.UserID).
				Int64("subscription_id", nt.SubscriptionID).Str("dedup_id", msgs[i].GetDedupId()).
				Msg("trial notice handed to the sender")
		}
		if err := n.markPublished(ctx, notices, now); err != nil {
			return err
		}
		if len(notices) < n.cfg.BatchSize {
			return nil
		}
	}
}

// markPublished records published notices, even when ctx has ended. When
// that fails they stay pending, and are taken over and published again (as
// duplicates the OUTBOX drops) once their ClaimTTL has passed.
func (n *Notifier) markPublished(ctx context.Context, notices []store.Notice, now time.Time) error {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	return n.store.MarkPublished(mctx, notices, now)
}

// release drops the claims of notices that could not be published, so the
// next iteration sends them; when that fails too, they are lost, and said so.
func (n *Notifier) release(ctx context.Context, notices []store.Notice, cause error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	err := n.store.Release(rctx, notices)
	if err == nil {
		return
	}
	for _, nt := range notices {
		n.log.Error().Ctx(ctx).Str("event", EventNoticeLost).Str("kind", nt.Kind).Int64("user_id", nt.UserID).
			Int64("subscription_id", nt.SubscriptionID).AnErr("publish_error", cause).Err(err).
			Msg("trial notice neither published nor released; it will not be sent")
	}
}
