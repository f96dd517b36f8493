package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

// Event names of the worker runtime, in the `event` field of its log lines.
const (
	EventIterationStart = "ITERATION_START"
	EventIterationEnd   = "ITERATION_END"
	EventWorkerTimeout  = "WORKER_TIMEOUT"
)

// Defaults of the Config fields left zero.
const (
	DefaultIterationTimeout = 120 * time.Second
	DefaultStopGrace        = 10 * time.Second
	DefaultLiveMargin       = 30 * time.Second
)

// returnWait is how long an iteration whose context has ended (its timeout,
// or the stop grace) may take to return before it is abandoned: enough for
// one that honours its context, so that it is not reported abandoned, and
// short enough that ITERATION_END still comes at the deadline.
const returnWait = 250 * time.Millisecond

// Env is the environment part of a worker's configuration. Each worker's
// Config embeds it, with defaults from NewEnv, and passes Env.Config to New.
type Env struct {
	// Interval is the time from the start of one iteration to the start of
	// the next (an iteration longer than that is followed at once).
	Interval time.Duration `env:"WORKER_INTERVAL"`
	// IterationTimeout bounds each iteration.
	IterationTimeout time.Duration `env:"WORKER_ITERATION_TIMEOUT"`
	// Singleton runs the loop only on the elected leader.
	Singleton bool `env:"WORKER_SINGLETON"`
}

// NewEnv returns the defaults of a worker whose iterations run every interval.
func NewEnv(interval time.Duration) Env {
	return Env{Interval: interval, IterationTimeout: DefaultIterationTimeout}
}

// Validate reports a setting that cannot work.
func (e Env) Validate() error {
	var errs []error
	if e.Interval <= 0 {
		errs = append(errs, fmt.Errorf("WORKER_INTERVAL=%s: must be positive", e.Interval))
	}
	if e.IterationTimeout <= 0 {
		errs = append(errs, fmt.Errorf("WORKER_ITERATION_TIMEOUT=%s: must be positive", e.IterationTimeout))
	}
	return errors.Join(errs...)
}

// Config returns the runtime configuration of the worker called name, with the
// defaults of the settings that are not read from the environment. A
// singleton's Elector is still to be set.
func (e Env) Config(name string) Config {
	return Config{Name: name, Interval: e.Interval, IterationTimeout: e.IterationTimeout, Singleton: e.Singleton}
}

// Elector runs lead only while this replica is the elected leader, cancelling
// lead's context when leadership is lost; *pgdb.Elector is one.
type Elector interface {
	Run(ctx context.Context, lead func(ctx context.Context) error) error
}

// Config configures a Worker. Zero durations take the defaults.
type Config struct {
	// Name names the worker in logs (`worker`) and metrics (label worker).
	Name string
	// Interval is the time from one iteration's start to the next one's.
	Interval time.Duration
	// IterationTimeout bounds each iteration (default 120s).
	IterationTimeout time.Duration
	// StopGrace is how long the running iteration may go on once Run's
	// context is done before its own context is cancelled (default 10s).
	StopGrace time.Duration
	// LiveMargin is how far past Interval + IterationTimeout Live lets the
	// last completed iteration be before it fails (default 30s).
	LiveMargin time.Duration
	// Singleton runs the loop only while Elector has this replica lead.
	Singleton bool
	// Elector is required with Singleton and unused without.
	Elector Elector
}

func (c Config) withDefaults() Config {
	if c.IterationTimeout <= 0 {
		c.IterationTimeout = DefaultIterationTimeout
	}
	if c.StopGrace <= 0 {
		c.StopGrace = DefaultStopGrace
	}
	if c.LiveMargin <= 0 {
		c.LiveMargin = DefaultLiveMargin
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("Name is empty"))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("Interval is %s, want positive", c.Interval))
	}
	if c.Singleton && c.Elector == nil {
		errs = append(errs, errors.New("Singleton needs an Elector"))
	}
	return errors.Join(errs...)
}

// Result is what an iteration reports: item counts by name, such as
// {"sent": 3, "skipped": 1}. They go to ITERATION_END and to
// vpnbot_worker_items_total, also when the iteration fails.
type Result map[string]int

// IterationFunc is one iteration of a worker. It must stop when ctx is done;
// one that does not is abandoned at its timeout.
type IterationFunc func(ctx context.Context) (Result, error)

// Worker runs an IterationFunc in a loop. Create it with New.
type Worker struct {
	cfg         Config
	iterateFunc IterationFunc
	log         zerolog.Logger
	m           *metrics

	wake      chan struct{}  // holds at most one pending Wake
	completed *obs.Heartbeat // beaten when an iteration returns
	standby   atomic.Bool    // Run waits for leadership
	running   atomic.Bool
	seq       atomic.Uint64 // iteration number, to pair START and END lines
	abandoned atomic.Int64  // abandoned iterations still running

	wokeMu sync.Mutex
	wokeBy []trace.SpanContext // spans of the WakeFrom calls the next iteration serves
}

// New returns a worker running iterate as cfg says. Its metrics are
// registered on reg (nil: not exported); workers with different names may
// share one registry.
func New(cfg Config, iterate IterationFunc, log zerolog.Logger, reg prometheus.Registerer) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	if iterate == nil {
		return nil, errors.New("worker config: iteration func is nil")
	}
	m, err := newMetrics(reg, cfg.Name, cfg.Singleton, cfg.Interval)
	if err != nil {
		return nil, err
	}
	return &Worker{
		cfg:         cfg,
		iterateFunc: iterate,
		log:         log.With().Str("worker", cfg.Name).Logger(),
		m:           m,
		wake:        make(chan struct{}, 1),
		completed:   obs.NewHeartbeat(cfg.Interval + cfg.IterationTimeout + cfg.LiveMargin),
	}, nil
}

// Wake asks for an iteration now, for instance when a message says there is
// work. Wakes coalesce: any number of them while an iteration runs (or while
// the loop waits) bring one more iteration. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// maxWokeBy bounds the wake-ups an iteration's span keeps: a burst of
// messages is one iteration, and its first few say enough.
const maxWokeBy = 8

// WakeFrom is Wake from a message's handler: the iteration it brings
// continues ctx's trace, a child of its span, so a payment's trace goes on
// into the activation it asked for. Wake-ups merged into one iteration
// become links of its span.
func (w *Worker) WakeFrom(ctx context.Context) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		w.wokeMu.Lock()
		if len(w.wokeBy) < maxWokeBy {
			w.wokeBy = append(w.wokeBy, sc)
		}
		w.wokeMu.Unlock()
	}
	w.Wake()
}

// takeWokeBy returns the spans of the wake-ups since the last iteration
// started, and forgets them.
func (w *Worker) takeWokeBy() []trace.SpanContext {
	w.wokeMu.Lock()
	defer w.wokeMu.Unlock()
	woke := w.wokeBy
	w.wokeBy = nil
	return woke
}

// Run loops until ctx is done: an iteration at once, then one every Interval
// or on Wake, each under IterationTimeout. With Singleton it does so only
// while this replica leads, standing by otherwise. Once ctx is done the
// running iteration may finish within StopGrace, after which its context is
// cancelled; Run then returns nil. A singleton that loses leadership while
// Run goes on cancels its running iteration at once.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return fmt.Errorf("worker %s is already running", w.cfg.Name)
	}
	defer w.running.Store(false)
	w.log.Info().Dur("interval", w.cfg.Interval).Dur("iteration_timeout", w.cfg.IterationTimeout).
		Dur("stop_grace", w.cfg.StopGrace).Bool("singleton", w.cfg.Singleton).Msg("worker starting")
	defer func() { w.log.Info().Msg("worker stopped") }()
	if !w.cfg.Singleton {
		w.loop(ctx, ctx)
		return nil
	}
	w.standby.Store(true)
	defer w.standby.Store(false)
	err := w.cfg.Elector.Run(ctx, func(term context.Context) error {
		// A new leader has a whole window for its first iteration, however
		// long it stood by.
		w.completed.Beat()
		w.standby.Store(false)
		w.m.leader.Set(1)
		defer func() {
			w.m.leader.Set(0)
			w.standby.Store(true)
		}()
		w.loop(ctx, term)
		return nil
	})
	if err != nil {
		return fmt.Errorf("worker %s: leader election: %w", w.cfg.Name, err)
	}
	return nil
}

// Live fails when no iteration has completed (returned, whatever its
// outcome) for Interval + IterationTimeout + LiveMargin. A standby is live.
func (w *Worker) Live(ctx context.Context) error {
	if w.standby.Load() {
		return nil
	}
	err := w.completed.Check(ctx)
	if err == nil {
		return nil
	}
	if n := w.abandoned.Load(); n > 0 {
		return fmt.Errorf("worker %s: no iteration completed: %w; %d abandoned iteration(s) still running",
			w.cfg.Name, err, n)
	}
	return fmt.Errorf("worker %s: no iteration completed: %w", w.cfg.Name, err)
}

// loop iterates until ctx is done.
func (w *Worker) loop(run, ctx context.Context) {
	// A wake from before the loop started is served by its first iteration.
	select {
	case <-w.wake:
	default:
	}
	for ctx.Err() == nil {
		start := time.Now()
		w.runIteration(run, ctx)
		t := time.NewTimer(w.cfg.Interval - time.Since(start))
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-w.wake:
		}
		t.Stop()
	}
}
