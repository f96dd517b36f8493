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
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/vpnbot/vpnbot/pkg/obs"
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
	// EventKeyDeliveryFailed is a new key whose delivery failed; the
	// iteration tries it again before it ends.
	EventKeyDeliveryFailed = "KEY_DELIVERY_FAILED"
	// EventKeyUndeliverable is a key that cannot be put in a message (too
	// long); the user still sees it under "My subscription".
	EventKeyUndeliverable = "KEY_UNDELIVERABLE"
	// EventLinkRotated is a user's account given the new link they asked
	// for; the old one stopped working.
	EventLinkRotated = "LINK_ROTATED"
	// EventRotationFailed is a new link the panel could not make now; the
	// next iteration tries again.
	EventRotationFailed = "LINK_ROTATION_FAILED"
	// EventAccountSuspended is a banned user's account disabled on its
	// panel; the unban's activation enables it again.
	EventAccountSuspended = "ACCOUNT_SUSPENDED"
	// EventSuspensionFailed is a banned user's account the panel could not
	// disable now; the next iteration tries again.
	EventSuspensionFailed = "ACCOUNT_SUSPENSION_FAILED"
)

// Defaults of the Config fields left zero.
const (
	// DefaultConcurrency is the pool's size (DESIGN §1). A panel call holds
	// no connection: the periods in progress share the pool between calls.
	DefaultConcurrency = 4
	DefaultBatchSize   = 100
	DefaultRetryBase   = 5 * time.Second
	DefaultRetryMax    = 10 * time.Minute
)

// periodsPerPanelCall is how many periods are in progress per panel call
// allowed at once. Besides its panel call, a period is read and recorded,
// and its key drawn and sent: with only as many periods as calls, the panel
// would wait for that. Two suffice: in BenchmarkThroughput on a loaded
// machine the panel's slots were busy ~0.9 of the time with 2, 4 or 8.
const periodsPerPanelCall = 2

// Config tunes an Activator. Zero fields take the defaults.
type Config struct {
	// Concurrency is how many panel calls are made at once: the load the
	// worker puts on the panel, and so the bound on its rate (Concurrency
	// per panel latency). periodsPerPanelCall times as many periods are in
	// progress, so that their database work and key delivery overlap the
	// panel calls.
	Concurrency int
	// BatchSize is how many pending periods (and undelivered keys) one
	// iteration takes.
	BatchSize int
	// RetryBase and RetryMax shape the delay before a period whose
	// activation failed n times is tried again: min(RetryBase*2^(n-1), RetryMax).
	RetryBase, RetryMax time.Duration
	// NowFunc is the clock of the retry delays (default time.Now).
	NowFunc func() time.Time
	// App is the Mini App's URL, for the "Open app" button of the key
	// messages; "" for none.
	App string
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
	fleet *vpn.Fleet
	log   zerolog.Logger

	panelErrors *prometheus.CounterVec
	// delivery is the key-delivery SLI (docs/slo.md), by the period's kind.
	delivery *prometheus.HistogramVec

	mu      sync.Mutex
	retries map[int64]retryState // by subscription id
}

// retryState is a period whose activation failed.
type retryState struct {
	failures int
	next     time.Time // not tried before
	// panel is set when the last failure was the panel's (down, 5xx,
	// timeout) rather than the period's own: the panel answering again
	// ends the wait.
	panel bool
}

// New returns an Activator activating sh's periods on the fleet's panels
// and publishing keys on js's OUTBOX stream. Its metric is registered on reg
// (nil: not exported). The fleet's panels should each allow Concurrency
// calls at once (vpn.PanelEnv.New).
func New(cfg Config, sh *shop.Shop, pool *pgxpool.Pool, js jetstream.JetStream, fleet *vpn.Fleet,
	log zerolog.Logger, reg prometheus.Registerer) (*Activator, error) {
	if sh == nil || pool == nil || js == nil || fleet == nil {
		return nil, errors.New("activation: shop, pool, JetStream and fleet are required")
	}
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_activation_panel_errors_total",
		Help: "Activations the VPN panel failed (unreachable, 5xx, timeout, refused); each is retried later.",
	}, []string{"panel"})
	delivery := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "vpnbot_activation_delivery_seconds",
		Help: "Time from a period's grant (payment applied, trial taken) to its access working on the panel and, for a new access, its key handed to the sender, by kind (paid, trial).",
		// 60 is the key-delivery SLO's threshold (docs/slo.md).
		Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600},
	}, []string{"kind"})
	if reg != nil {
		for _, c := range []prometheus.Collector{errs, delivery} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering activation metrics: %w", err)
			}
		}
	}
	for _, kind := range []string{shop.KindPaid, shop.KindTrial} {
		delivery.WithLabelValues(kind)
	}
	// Each panel's series exists from the start, at 0, so that a rate or
	// an alert on it sees the first error as an increase.
	for _, m := range fleet.Members() {
		errs.WithLabelValues(m.Name())
	}
	cfg = cfg.withDefaults()
	return &Activator{
		cfg:         cfg,
		shop:        sh,
		store:       store{pool: pool},
		js:          js,
		fleet:       fleet,
		log:         log,
		panelErrors: errs,
		delivery:    delivery,
		retries:     map[int64]retryState{},
	}, nil
}

// Iterate is one iteration: disable the accounts of banned users, activate
// the pending periods, each new key delivered as soon as its access is
// recorded, give a new link to the users
// who asked for one, then deliver the keys still not delivered (left by an
// earlier run, failed just now, or new links). Its items are created,
// extended, rotated, suspended (banned users' accounts disabled), failed
// (panel errors), deferred (waiting out their retry delay), skipped (no
// longer active, or banned), delivered and undeliverable. A
// period that failed fails the iteration, after the others were tried, so
// that its outcome says the panel is failing.
func (a *Activator) Iterate(ctx context.Context) (worker.Result, error) {
	res := &tally{res: worker.Result{}}
	// Bans first: a banned user's account goes off before anything else
	// this iteration does.
	suspendErr := a.suspendPending(ctx, res)
	activateErr := a.activatePending(ctx, res)
	rotateErr := a.rotatePending(ctx, res)
	// Deliver even when activation failed part-way: keys recorded so far
	// are waiting for their users.
	deliverErr := a.deliver(ctx, res)
	return res.res, errors.Join(suspendErr, activateErr, rotateErr, deliverErr)
}

// suspendPending disables the accounts of banned users (shop.Suspend), one
// at a time: bans are rare. A suspension that failed is counted and tried
// again by the next iteration.
func (a *Activator) suspendPending(ctx context.Context, res *tally) error {
	users, err := a.shop.PendingSuspensions(ctx, a.cfg.BatchSize)
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range users {
		log := a.log.With().Int64("user_id", u).Ctx(ctx).Logger()
		if err := a.shop.Suspend(ctx, u, a.fleet); err != nil {
			if isPanelError(err) {
				a.panelErrors.WithLabelValues(vpn.PanelOf(err)).Inc()
			}
			res.add(itemFailed)
			log.Warn().Str("event", EventSuspensionFailed).Err(err).Msg("banned user's account not disabled; retrying next iteration")
			errs = append(errs, err)
			continue
		}
		res.add("suspended")
		log.Info().Str("event", EventAccountSuspended).Msg("banned user's account disabled on the panel")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d suspensions failed, retried later: %w", len(errs), len(users), errors.Join(errs...))
	}
	return nil
}

// rotatePending gives a new link to each user who asked for one
// (shop.Rotate), one at a time: requests are rare. The new link is
// recorded as a new access, which deliver sends. A rotation that failed is
// counted and tried again by the next iteration.
func (a *Activator) rotatePending(ctx context.Context, res *tally) error {
	users, err := a.shop.PendingRotations(ctx, a.cfg.BatchSize)
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range users {
		acc, err := a.shop.Rotate(ctx, u, a.fleet)
		log := a.log.With().Int64("user_id", u).Ctx(ctx).Logger()
		if err != nil {
			if isPanelError(err) {
				a.panelErrors.WithLabelValues(vpn.PanelOf(err)).Inc()
			}
			res.add(itemFailed)
			log.Warn().Str("event", EventRotationFailed).Err(err).Msg("new link not made; retrying next iteration")
			errs = append(errs, err)
			continue
		}
		res.add("rotated")
		// The link is a credential: it goes to the user only.
		log.Info().Str("event", EventLinkRotated).Str("panel", acc.Panel).Str("access_id", acc.ExternalID).
			Msg("the user's account has a new link; the old one stopped working")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d link rotations failed, retried later: %w", len(errs), len(users), errors.Join(errs...))
	}
	return nil
}

// tally counts an iteration's items from several goroutines, and keeps
// the first activation that failed.
type tally struct {
	mu    sync.Mutex
	res   worker.Result
	first error
}

func (t *tally) add(item string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res[item]++
}

// fail counts an activation that failed with err.
func (t *tally) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res[itemFailed]++
	if t.first == nil {
		t.first = err
	}
}

// failures is the error of the activations that failed, of tried; nil when
// none did. Each was logged as it failed; this names how many, and the
// first.
func (t *tally) failures(tried int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.first == nil {
		return nil
	}
	return fmt.Errorf("%d of %d activations failed, retried later; the first: %w", t.res[itemFailed], tried, t.first)
}

// activatePending activates the pending periods, periodsPerPanelCall ×
// Concurrency at a time, and sends each new key right away: drawing it
// overlaps the other periods' panel calls instead of following them all.
// A failed activation is counted and retried later, and keeps no other
// period from being tried: the failures are returned together once every
// period was. A key that could not be sent is logged and left to the sweep
// (deliver).
func (a *Activator) activatePending(ctx context.Context, res *tally) error {
	subs, err := a.shop.PendingActivations(ctx, a.cfg.BatchSize)
	if err != nil {
		return err
	}
	if len(subs) < a.cfg.BatchSize {
		a.prune(subs)
	}
	userIDs := make([]int64, 0, len(subs))
	for _, sub := range subs {
		userIDs = append(userIDs, sub.UserID)
	}
	chats, err := a.store.Chats(ctx, userIDs)
	if err != nil {
		return err
	}
	var sent sentKeys
	sem := make(chan struct{}, periodsPerPanelCall*a.cfg.Concurrency)
	var wg sync.WaitGroup
	now := a.cfg.NowFunc()
	// One period waiting out a panel failure is tried anyway, as a probe:
	// the panel's health is not the period's, and a panel back after an
	// outage must not leave the periods it failed waiting for their
	// doubled delays. A probe that succeeds releases them all (activate);
	// while the panel stays down it costs one call an iteration.
	probe := true
	tried := 0
	for _, sub := range subs {
		if !a.due(sub.ID, now) {
			if !probe || !a.panelFailed(sub.ID) {
				res.add("deferred")
				continue
			}
			probe = false
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return errors.Join(fmt.Errorf("activating pending subscriptions: %w", context.Cause(ctx)), res.failures(tried), a.record(ctx, &sent))
		}
		tried++
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, span := startPeriod(ctx, sub)
			defer span.End()
			item, acc, err := a.activate(ctx, sub)
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
				res.fail(err)
				return
			}
			span.SetAttributes(attribute.String("vpnbot.item", item))
			res.add(item)
			if c, ok := chats[sub.UserID]; ok && item == "created" {
				a.sendNew(ctx, sub, acc, c, &sent, res)
			}
			if item == "created" || item == "extended" {
				// A key sendNew could not hand over is left to the sweep at
				// the iteration's end: counted now, seconds early.
				waited := a.cfg.NowFunc().Sub(sub.UpdatedAt)
				obs.Observe(ctx, a.delivery.WithLabelValues(sub.Kind), max(waited, 0).Seconds())
			}
		})
	}
	wg.Wait()
	return errors.Join(res.failures(tried), a.record(ctx, &sent))
}

// sendNew sends the key of an access just made. A failure is logged, not
// returned: the sweep that ends the iteration tries the key again.
func (a *Activator) sendNew(ctx context.Context, sub shop.Subscription, acc shop.Access, c chat, sent *sentKeys, res *tally) {
	k := undelivered{
		SubscriptionID: sub.ID, UserID: sub.UserID, ChatID: c.ID, Language: c.Language,
		ExpiresAt: sub.ExpiresAt, Panel: acc.Panel, URL: acc.URL, CreatedAt: acc.CreatedAt,
	}
	if err := a.send(ctx, k, sent, res); err != nil {
		a.log.Warn().Ctx(ctx).Str("event", EventKeyDeliveryFailed).Int64("subscription_id", sub.ID).Err(err).
			Msg("key not delivered yet; retrying at the end of the iteration")
	}
}

// itemFailed is the item of a period whose activation failed.
const itemFailed = "failed"

// activate activates one period and returns the item it counts as and, if
// activated, its access; or why it failed, logged already.
func (a *Activator) activate(ctx context.Context, sub shop.Subscription) (string, shop.Access, error) {
	// A live access that is pending is behind its period's expiry: Activate
	// extends it, and the user keeps the key they have.
	extension := sub.Access != nil && sub.Access.RevokedAt == nil
	acc, err := a.shop.Activate(ctx, sub.ID, a.fleet)
	log := a.log.With().Int64("subscription_id", sub.ID).Int64("user_id", sub.UserID).Ctx(ctx).Logger()
	switch {
	case errors.Is(err, shop.ErrNotActive):
		a.forget(sub.ID)
		log.Info().Err(err).Msg("subscription no longer active; not activated")
		return "skipped", shop.Access{}, nil
	case errors.Is(err, shop.ErrBanned):
		a.forget(sub.ID)
		log.Info().Err(err).Msg("user banned meanwhile; not activated until the unban")
		return "skipped", shop.Access{}, nil
	case err != nil:
		failures, next := a.failed(sub.ID, isPanelError(err))
		panel := vpn.PanelOf(err)
		if isPanelError(err) {
			a.panelErrors.WithLabelValues(panel).Inc()
		}
		log.Warn().Str("event", EventActivationFailed).Err(err).Str("panel", panel).Int("failures", failures).
			Time("retry_after", next).Msg("activation failed; retrying later")
		return "", shop.Access{}, fmt.Errorf("activating subscription %d: %w", sub.ID, err)
	}
	a.forget(sub.ID)
	a.panelBack()
	// The key's URL is a credential: it goes to the user only.
	if extension {
		log.Info().Str("event", EventAccessExtended).Str("panel", acc.Panel).Str("access_id", acc.ExternalID).
			Time("expires_at", sub.ExpiresAt).Msg("access extended on the panel")
		return "extended", acc, nil
	}
	log.Info().Str("event", EventAccessCreated).Str("panel", acc.Panel).Str("access_id", acc.ExternalID).
		Time("expires_at", sub.ExpiresAt).Msg("access created")
	return "created", acc, nil
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

// panelFailed reports whether id waits because the panel failed it.
func (a *Activator) panelFailed(id int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.retries[id].panel
}

// panelBack ends the wait of every period the panel failed: it has just
// answered, so the next iteration tries them all.
func (a *Activator) panelBack() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, r := range a.retries {
		if r.panel {
			delete(a.retries, id)
		}
	}
}

// failed records a failure of id, the panel's or not, and returns how many
// in a row and when it may be tried again.
func (a *Activator) failed(id int64, panel bool) (int, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.retries[id]
	r.failures++
	r.panel = panel
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
