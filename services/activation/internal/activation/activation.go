package activation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// Event names of the activation worker's log lines.
const (
	// EventAccessCreated is a new VPN access recorded for a period.
	EventAccessCreated = "ACCESS_CREATED"
	// EventAccessExtended is an access whose expiry was moved on the panel
	// because its period was paid for again.
	EventAccessExtended = "ACCESS_EXTENDED"
	// EventActivationFailed is a period the panel could not activate now; a
	// later iteration retries it.
	EventActivationFailed = "ACTIVATION_FAILED"
	// EventKeyDelivered is a key handed to the sender.
	EventKeyDelivered = "KEY_DELIVERED"
	// EventKeyUndeliverable is a key that cannot be put in a message (too
	// long); the user still sees it under "My subscription".
	EventKeyUndeliverable = "KEY_UNDELIVERABLE"
)

// Defaults of the Config fields left zero.
const (
	// DefaultConcurrency matches the pool (DESIGN §1): each activation holds
	// a connection only between its panel calls, never during one.
	DefaultConcurrency = 4
	DefaultBatchSize   = 100
	DefaultRetryBase   = 5 * time.Second
	DefaultRetryMax    = 10 * time.Minute
)

// Provisioner is the VPN panel the worker activates on (vpn.Outline,
// vpn.Remnawave).
type Provisioner = shop.Provisioner

// Config tunes an Activator. Zero fields take the defaults.
type Config struct {
	// Concurrency is how many periods are activated at once.
	Concurrency int
	// BatchSize is how many pending periods (and undelivered keys) one
	// iteration takes.
	BatchSize int
	// RetryBase and RetryMax shape the delay before a period whose
	// activation failed n times is tried again: min(RetryBase*2^(n-1), RetryMax).
	RetryBase, RetryMax time.Duration
	// NowFunc is the clock of the retry delays (default time.Now).
	NowFunc func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = max(DefaultRetryMax, c.RetryBase)
	}
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	return c
}

// Activator runs the worker's iterations. Make it with New; Iterate is the
// worker.IterationFunc.
type Activator struct {
	cfg   Config
	shop  *shop.Shop
	store store
	js    jetstream.JetStream
	panel Provisioner
	log   zerolog.Logger

	panelErrors prometheus.Counter

	mu      sync.Mutex
	retries map[int64]retryState // by subscription id
}

// retryState is a period whose activation failed.
type retryState struct {
	failures int
	next     time.Time // not tried before
}

// New returns an Activator activating sh's periods on panel and publishing
// keys on js's OUTBOX stream. Its metric is registered on reg (nil: not
// exported).
func New(cfg Config, sh *shop.Shop, pool *pgxpool.Pool, js jetstream.JetStream, panel Provisioner,
	log zerolog.Logger, reg prometheus.Registerer) (*Activator, error) {
	if sh == nil || pool == nil || js == nil || panel == nil {
		return nil, errors.New("activation: shop, pool, JetStream and panel are required")
	}
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_activation_panel_errors_total",
		Help: "Activations the VPN panel failed (unreachable, 5xx, timeout, refused); each is retried later.",
	}, []string{"panel"})
	if reg != nil {
		if err := reg.Register(errs); err != nil {
			return nil, fmt.Errorf("registering activation metrics: %w", err)
		}
	}
	return &Activator{
		cfg:         cfg.withDefaults(),
		shop:        sh,
		store:       store{pool: pool},
		js:          js,
		panel:       panel,
		log:         log,
		panelErrors: errs.WithLabelValues(panel.Name()),
		retries:     map[int64]retryState{},
	}, nil
}

// Iterate is one iteration: activate the pending periods, then deliver the
// keys not yet delivered. Its items are created, extended, failed (panel
// errors), deferred (waiting out their retry delay), skipped (no longer
// active), delivered and undeliverable.
func (a *Activator) Iterate(ctx context.Context) (worker.Result, error) {
	res := worker.Result{}
	activateErr := a.activatePending(ctx, res)
	// Deliver even when activation failed part-way: keys recorded so far
	// are waiting for their users.
	deliverErr := a.deliver(ctx, res)
	return res, errors.Join(activateErr, deliverErr)
}

// activatePending activates the pending periods, Concurrency at a time.
// Panel errors are counted and retried later, not returned: one broken
// period must not fail the iteration of the others.
func (a *Activator) activatePending(ctx context.Context, res worker.Result) error {
	subs, err := a.shop.PendingActivations(ctx, a.cfg.BatchSize)
	if err != nil {
		return err
	}
	if len(subs) < a.cfg.BatchSize {
		a.prune(subs)
	}
	var mu sync.Mutex
	count := func(item string) {
		mu.Lock()
		res[item]++
		mu.Unlock()
	}
	sem := make(chan struct{}, a.cfg.Concurrency)
	var wg sync.WaitGroup
	now := a.cfg.NowFunc()
	for _, sub := range subs {
		if !a.due(sub.ID, now) {
			count("deferred")
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return fmt.Errorf("activating pending subscriptions: %w", context.Cause(ctx))
		}
		wg.Go(func() {
			defer func() { <-sem }()
			count(a.activate(ctx, sub))
		})
	}
	wg.Wait()
	return nil
}

// activate activates one period and returns the item it counts as.
func (a *Activator) activate(ctx context.Context, sub shop.Subscription) string {
	// A live access that is pending is behind its period's expiry: Activate
	// extends it, and the user keeps the key they have.
	extension := sub.Access != nil && sub.Access.RevokedAt == nil
	acc, err := a.shop.Activate(ctx, sub.ID, a.panel)
	log := a.log.With().Int64("subscription_id", sub.ID).Int64("user_id", sub.UserID).Str("panel", a.panel.Name()).Logger()
	switch {
	case errors.Is(err, shop.ErrNotActive):
		a.forget(sub.ID)
		log.Info().Err(err).Msg("subscription no longer active; not activated")
		return "skipped"
	case err != nil:
		failures, next := a.failed(sub.ID)
		if isPanelError(err) {
			a.panelErrors.Inc()
		}
		log.Warn().Str("event", EventActivationFailed).Err(err).Int("failures", failures).
			Time("retry_after", next).Msg("activation failed; retrying later")
		return "failed"
	}
	a.forget(sub.ID)
	// The key's URL is a credential: it goes to the user only.
	if extension {
		log.Info().Str("event", EventAccessExtended).Str("access_id", acc.ExternalID).
			Time("expires_at", sub.ExpiresAt).Msg("access extended on the panel")
		return "extended"
	}
	log.Info().Str("event", EventAccessCreated).Str("access_id", acc.ExternalID).
		Time("expires_at", sub.ExpiresAt).Msg("access created")
	return "created"
}

// isPanelError tells a failure of the panel (what the panel-errors metric
// counts) from one of the database.
func isPanelError(err error) bool {
	return errors.Is(err, vpn.ErrUnavailable) || errors.Is(err, vpn.ErrUnauthorized) ||
		errors.Is(err, vpn.ErrUntrustedCertificate) || errors.Is(err, vpn.ErrNotFound) ||
		errors.Is(err, context.DeadlineExceeded)
}

// due reports whether a period may be tried now: never failed, or its retry
// delay has passed.
func (a *Activator) due(id int64, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.retries[id]
	return !ok || !now.Before(r.next)
}

// failed records a failure of id and returns how many in a row and when it
// may be tried again.
func (a *Activator) failed(id int64) (int, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.retries[id]
	r.failures++
	delay := a.cfg.RetryMax
	if shift := r.failures - 1; shift < 30 {
		delay = min(a.cfg.RetryBase<<shift, a.cfg.RetryMax)
	}
	r.next = a.cfg.NowFunc().Add(delay)
	a.retries[id] = r
	return r.failures, r.next
}

// forget drops id's failures once it was activated or needs no activation,
// so the map holds only periods that are still failing.
func (a *Activator) forget(id int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.retries, id)
}

// prune drops the failures of periods no longer pending (expired or revoked
// while failing), given the complete list of pending ones.
func (a *Activator) prune(pending []shop.Subscription) {
	keep := make(map[int64]bool, len(pending))
	for _, s := range pending {
		keep[s.ID] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.retries {
		if !keep[id] {
			delete(a.retries, id)
		}
	}
}
