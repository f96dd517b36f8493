package cleanup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/store"
)

// Event names of the worker's log lines.
const (
	// EventAccessRevoked is an access removed from the panel: an expired
	// period's (reason "expired") or an orphan (reason "orphan").
	EventAccessRevoked = "ACCESS_REVOKED"
	// EventRevocationFailed is a period the panel (or the database) could not
	// revoke now; the next iteration retries it.
	EventRevocationFailed = "REVOCATION_FAILED"
	// EventRenewedWhileRevoking is a period paid for while it was being
	// revoked: it stays active, and activation gives it a new key.
	EventRenewedWhileRevoking = "RENEWED_WHILE_REVOKING"
	// EventNoticeSent is an expiry notice handed to the sender.
	EventNoticeSent = "EXPIRY_NOTICE_SENT"
	// EventOrphansRevoked closes a reconciliation pass, with its count.
	EventOrphansRevoked = "ORPHANS_REVOKED"
	// EventPanelDriftRepaired is one account reconciliation repaired, with
	// the kind of drift (the Drift constants).
	EventPanelDriftRepaired = "PANEL_DRIFT_REPAIRED"
)

// Items of an iteration's Result.
const (
	ItemRevoked        = "revoked"
	ItemFailed         = "failed"
	ItemRenewed        = "renewed"
	ItemClaimed        = "claimed_elsewhere"
	ItemNotified       = "notified"
	ItemOrphansRevoked = "orphans_revoked"
	ItemOrphansWaiting = "orphans_waiting"
	ItemDriftRepaired  = "drift_repaired"
)

// Defaults of the Config fields left zero.
const (
	DefaultGrace          = time.Hour
	DefaultConcurrency    = 4
	DefaultBatchSize      = 100
	DefaultReconcileEvery = 10
	DefaultOrphanMinAge   = 5 * time.Minute
	// DefaultClaimTTL outlasts an iteration at the default timeout: a claim
	// is taken over only when its holder's iteration must have ended.
	DefaultClaimTTL     = worker.DefaultIterationTimeout + 30*time.Second
	DefaultNoticeWindow = 24 * time.Hour
)

// periodsPerPanelCall is how many periods are in progress per panel call
// allowed at once. Besides its panel call, a period is claimed, read and
// marked revoked, six database round trips: with only as many periods as
// calls, the panel would wait for them. In BenchmarkThroughput on a loaded
// machine the panel's slots were busy 0.68-0.76 of the time with 1 per
// call, 0.81-0.91 with 2, 0.83-0.94 with 4 and 0.82-0.89 with 8.
const periodsPerPanelCall = 4

// releaseTimeout bounds giving a claim back, which happens also when the
// iteration's context has ended (that is often why the claim failed).
const releaseTimeout = 5 * time.Second

// Config tunes a Cleaner. Zero fields take the defaults.
type Config struct {
	// Grace is how long an expired period keeps its access (a payment in
	// that time extends it from now).
	Grace time.Duration
	// Concurrency is how many panel calls are made at once: the load the
	// worker puts on the panel, and so the bound on its rate (Concurrency
	// per panel latency). periodsPerPanelCall times as many periods are in
	// progress, so that their claims and transactions overlap the panel
	// calls.
	Concurrency int
	// BatchSize is how many periods (and notices) one iteration takes.
	BatchSize int
	// ReconcileEvery makes every n-th iteration (the first included) a
	// reconciliation pass.
	ReconcileEvery int
	// OrphanMinAge is how long a panel access must have been seen unbacked
	// before reconciliation revokes it.
	OrphanMinAge time.Duration
	// ClaimTTL is how long a revocation claim, or a claimed notice not yet
	// published, keeps other replicas off a period while its claimant's
	// database session lives; longer than an iteration can run. It is the
	// wait for a replica that hangs: one that died leaves no session, and
	// its claims are taken over at once.
	ClaimTTL time.Duration
	// NoticeWindow is how long after a revocation its notice may still be
	// sent (older ones are dropped: the news is stale).
	NoticeWindow time.Duration
	// NowFunc is the clock of claims, notices and orphan ages (default
	// time.Now); the shop has its own.
	NowFunc func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.ReconcileEvery <= 0 {
		c.ReconcileEvery = DefaultReconcileEvery
	}
	if c.OrphanMinAge <= 0 {
		c.OrphanMinAge = DefaultOrphanMinAge
	}
	if c.ClaimTTL <= 0 {
		c.ClaimTTL = DefaultClaimTTL
	}
	if c.NoticeWindow <= 0 {
		c.NoticeWindow = DefaultNoticeWindow
	}
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	return c
}

// Cleaner runs the worker's iterations. Make it with New; Iterate is the
// worker.IterationFunc.
type Cleaner struct {
	cfg   Config
	shop  *shop.Shop
	store *store.Store
	js    jetstream.JetStream
	fleet *vpn.Fleet
	log   zerolog.Logger

	panelErrors   *prometheus.CounterVec
	overdue       prometheus.Gauge
	overdueOldest prometheus.Gauge
	unbacked      *prometheus.GaugeVec
	driftRepaired *prometheus.CounterVec

	iterations atomic.Int64

	mu sync.Mutex
	// orphans holds when each unbacked account was first seen so, by panel
	// and name.
	orphans map[string]map[string]time.Time
}

// New returns a Cleaner revoking sh's expired periods on the fleet's panels
// and publishing notices on js's OUTBOX stream. Its metrics
// are registered on reg (nil: not exported).
func New(cfg Config, sh *shop.Shop, pool *pgxpool.Pool, js jetstream.JetStream, fleet *vpn.Fleet,
	log zerolog.Logger, reg prometheus.Registerer) (*Cleaner, error) {
	if sh == nil || pool == nil || js == nil || fleet == nil {
		return nil, errors.New("cleanup: shop, pool, JetStream and fleet are required")
	}
	panelErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_expiry_panel_errors_total",
		Help: "Revocations and listings the VPN panel failed (unreachable, 5xx, timeout, refused); each is retried.",
	}, []string{"panel"})
	overdue := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vpnbot_expiry_unrevoked_overdue",
		Help: "Live accesses of active periods past expiry + grace, counted in the database after each iteration's revocations.",
	})
	overdueOldest := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vpnbot_expiry_unrevoked_overdue_seconds",
		Help: "How long the oldest of those accesses has outlived its period's expiry + grace; 0 when there is none.",
	})
	unbacked := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_expiry_orphans_unbacked",
		Help: "Panel accounts of ours that nothing backs (unknown, or working with no period paying), after the last reconciliation.",
	}, []string{"panel"})
	driftRepaired := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_panel_drift_repaired_total",
		Help: "Panel accounts reconciliation found drifted from the database and repaired, by kind of drift.",
	}, []string{"panel", "drift"})
	if reg != nil {
		for _, c := range []prometheus.Collector{panelErrors, overdue, overdueOldest, unbacked, driftRepaired} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering expiry-cleanup metrics: %w", err)
			}
		}
	}
	// Each panel's series exist from the start, at 0, so that a rate or an
	// alert on them sees the first error or repair as an increase.
	for _, m := range fleet.Members() {
		panelErrors.WithLabelValues(m.Name())
		for _, drift := range []string{DriftMissing, DriftDisabled, DriftExpiry, DriftLink, DriftUnpaid, DriftOrphan} {
			driftRepaired.WithLabelValues(m.Name(), drift)
		}
	}
	cfg = cfg.withDefaults()
	return &Cleaner{
		cfg:           cfg,
		shop:          sh,
		store:         store.New(pool),
		js:            js,
		fleet:         fleet,
		log:           log,
		panelErrors:   panelErrors,
		overdue:       overdue,
		overdueOldest: overdueOldest,
		unbacked:      unbacked,
		driftRepaired: driftRepaired,
		orphans:       map[string]map[string]time.Time{},
	}, nil
}

// Iterate is one iteration: revoke the expired periods, measure what is
// left overdue, notify the users, and on every ReconcileEvery-th iteration
// reconcile the panel. Its items are revoked, failed, renewed,
// claimed_elsewhere and notified, plus orphans_revoked and orphans_waiting
// on reconciliation passes.
func (c *Cleaner) Iterate(ctx context.Context) (worker.Result, error) {
	res := worker.Result{}
	revokeErr := c.revokeExpired(ctx, res)
	overdueErr := c.measureOverdue(ctx)
	// Notify and reconcile even when some revocations failed: the periods
	// revoked, and the panel, do not depend on the ones that failed.
	noticeErr := c.notify(ctx, res)
	var reconcileErr error
	if (c.iterations.Add(1)-1)%int64(c.cfg.ReconcileEvery) == 0 {
		reconcileErr = c.reconcile(ctx, res)
	}
	return res, errors.Join(revokeErr, overdueErr, noticeErr, reconcileErr)
}

// measureOverdue sets the overdue gauges from the database, which sees
// what no iteration's results show: periods not tried (a backlog beyond
// BatchSize, an iteration that timed out, a replica that died) as well as
// those whose revocation failed. It outlives the iteration's context, so
// that an iteration that timed out on a hanging panel still reports. On an
// error the gauges keep the last measurement; the iteration fails.
func (c *Cleaner) measureOverdue(ctx context.Context) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	now := c.cfg.NowFunc()
	o, err := c.store.Overdue(ctx, now.Add(-c.cfg.Grace))
	if err != nil {
		return err
	}
	oldest := time.Duration(0)
	if o.Accesses > 0 {
		oldest = now.Sub(o.Oldest.Add(c.cfg.Grace))
	}
	c.overdue.Set(float64(o.Accesses))
	c.overdueOldest.Set(oldest.Seconds())
	return nil
}

// countPanelError counts err against its panel if it is a panel's failure.
func (c *Cleaner) countPanelError(err error) {
	if isPanelError(err) {
		c.panelErrors.WithLabelValues(vpn.PanelOf(err)).Inc()
	}
}

// isPanelError tells a failure of the panel from one of the database.
func isPanelError(err error) bool {
	return errors.Is(err, vpn.ErrUnavailable) || errors.Is(err, vpn.ErrUnauthorized) ||
		errors.Is(err, vpn.ErrUntrustedCertificate) || errors.Is(err, vpn.ErrNotFound) ||
		errors.Is(err, context.DeadlineExceeded)
}

// detached is a context that outlives the iteration's, briefly: for what
// an iteration must finish even when its context has ended (giving claims
// back, recording what it did, measuring what is overdue).
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
}
