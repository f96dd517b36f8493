package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/buildinfo"
	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/tracing"
)

// Event names of the skeleton's log lines, besides obs.EventServiceStart,
// obs.EventConfig, obs.EventDBPoolMaxSize and obs.EventServiceStop.
const (
	// EventStreamsDeclared: the streams the service reads and writes exist
	// with their configuration; field replicas is their STREAM_REPLICAS.
	EventStreamsDeclared = "STREAMS_DECLARED"
	// EventStreamsDeclareFailed: declaring them failed (NATS down?); retrying.
	EventStreamsDeclareFailed = "STREAMS_DECLARE_FAILED"
	// EventShutdownStep: one step of the shutdown is done; field step is
	// http, work, ops, nats, pool or tracing, in that order.
	EventShutdownStep = "SHUTDOWN_STEP"
)

const (
	// drainTimeout bounds the NATS drain at shutdown.
	drainTimeout = 10 * time.Second
	// declareTimeout bounds one attempt to declare the streams.
	declareTimeout = 10 * time.Second
	// declareFirstRetry and declareMaxRetry shape the backoff between
	// attempts while NATS does not answer.
	declareFirstRetry = 200 * time.Millisecond
	declareMaxRetry   = 5 * time.Second
	// flushTimeout bounds the export of the last spans at shutdown.
	flushTimeout = 5 * time.Second
)

// Config is a service's typed configuration: a struct that embeds
// config.Base, and config.DB when the service has a connection pool.
type Config interface {
	BaseConfig() config.Base
}

// dbConfig is a Config that embeds config.DB.
type dbConfig interface {
	DBConfig() config.DB
}

// Spec declares one long-running service: everything its main knows.
type Spec[C Config] struct {
	// Name is the service's name, in logs, metrics and connection names.
	Name string
	// Defaults is the service's configuration with its defaults, which the
	// environment overlays (config.Load).
	Defaults C
	// Streams are the streams the service reads or writes, declared (again
	// whenever RedeclareStreams asks) before its consumers and loops start,
	// each on the STREAM_REPLICAS servers of config.Base, whatever its
	// Replicas here.
	Streams []jetstream.StreamConfig
	// BuildFunc builds the service's own parts once its connections are open,
	// and registers them on s: HTTP servers, consumers, loops, checks and
	// closers. It may block (asking Telegram who the bot is): the ops
	// endpoint serves meanwhile, live but not ready, and ctx ends at
	// shutdown.
	BuildFunc func(ctx context.Context, cfg C, s *Service) error
	// WithoutNATS is for a service that neither reads nor writes a stream
	// (it has no Streams): it opens no NATS connection, so NATS being down
	// does not make it unready, and NC and JS are nil.
	WithoutNATS bool
	// NATSOptional is for a service whose publishes only wake what also
	// polls (the web app's activation requests): it connects, but NATS
	// being down does not make it unready.
	NATSOptional bool
	// LogOutput is where the logs go; nil is stdout.
	LogOutput io.Writer
}

// Main is a service's main: it runs spec until SIGINT or SIGTERM and exits
// 1 when the service failed.
func Main[C Config](spec Spec[C]) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, spec)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, spec.Name+":", err)
		os.Exit(1)
	}
}

// Service is a running service, as Spec.BuildFunc sees it: its connections, and
// the methods that register its parts.
type Service struct {
	// Name is Spec.Name.
	Name string
	Log  zerolog.Logger
	// Ops is the ops endpoint (/livez, /readyz, /metrics); register metrics
	// on Ops.Registry() and checks with AddLiveness and AddReadiness.
	Ops *obs.Ops
	// Pool is the connection pool; nil for a service whose Config does not
	// embed config.DB.
	Pool *pgxpool.Pool
	NC   *nats.Conn
	JS   jetstream.JetStream

	mu      sync.Mutex
	servers []func(ctx context.Context) error
	tasks   []func(ctx context.Context) error // run once the streams are declared
	closers []func()
	elector *pgdb.Elector

	redeclare chan struct{} // capacity 1: a pending request to declare the streams again
	declared  atomic.Bool
	started   atomic.Bool
	stopping  atomic.Bool
}

// Run runs spec until ctx is done or a part of the service fails, as the
// package doc tells, and returns the first failure, or nil after a shutdown
// asked for by ctx.
func Run[C Config](ctx context.Context, spec Spec[C]) (err error) {
	cfg, err := config.Load(spec.Defaults)
	if err != nil {
		return err
	}
	base := cfg.BaseConfig()
	log, err := obs.NewLogger(spec.LogOutput, spec.Name, base.Instance, base.LogLevel)
	if err != nil {
		return err
	}
	build := buildinfo.Get()
	log.Info().Str("event", obs.EventServiceStart).Str("version", build.Version).Str("revision", build.Revision).
		Str("go_version", build.GoVersion).Msg("starting")
	defer func() {
		ev := log.Info()
		if err != nil {
			ev = log.Error().Err(err)
		}
		ev.Str("event", obs.EventServiceStop).Msg("stopped")
	}()
	log.Info().Str("event", obs.EventConfig).Fields(config.Fields(cfg)).Msg("configuration")
	traceCfg := tracing.Config{
		Endpoint:       base.OTLPEndpoint,
		TracesEndpoint: base.OTLPTracesEndpoint,
		Sampler:        base.TracesSampler,
		SamplerArg:     base.TracesSamplerArg,
	}
	shutdownTracing, err := tracing.Setup(ctx, spec.Name, traceCfg, log)
	if err != nil {
		return err
	}
	// Deferred first, so it runs last: the spans of the whole shutdown are
	// flushed.
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := shutdownTracing(fctx); err != nil {
			log.Warn().Err(err).Msg("could not flush the last traces")
		}
		log.Info().Str("event", EventShutdownStep).Str("step", "tracing").Msg("traces flushed")
	}()

	s := &Service{Name: spec.Name, Log: log, Ops: obs.NewOps(log), redeclare: make(chan struct{}, 1)}
	if err := s.Ops.Registry().Register(buildinfo.Collector(build)); err != nil {
		return fmt.Errorf("registering vpnbot_build_info: %w", err)
	}
	// Deferred in reverse: NATS is drained, then the pool closed, then the
	// closers run.
	defer s.close()
	if db, ok := any(cfg).(dbConfig); ok {
		var opts []pgdb.Option
		if traceCfg.Enabled() {
			opts = append(opts, pgdb.WithTracing())
		}
		pool, err := pgdb.Open(ctx, db.DBConfig(), spec.Name, log, s.Ops.Registry(), opts...)
		if err != nil {
			return err
		}
		s.Pool = pool
		defer func() {
			pool.Close()
			log.Info().Str("event", EventShutdownStep).Str("step", "pool").Msg("connection pool closed")
		}()
		s.Ops.AddReadiness("postgres", pgdb.Ping(pool))
	} else {
		// Every service states its share of the connection budget, none
		// being one: on-call checks one event across the fleet.
		log.Info().Str("event", obs.EventDBPoolMaxSize).Int("value", 0).Msg("DB_POOL_MAX_SIZE=0 (no database)")
	}
	if spec.WithoutNATS && len(spec.Streams) > 0 {
		return errors.New("a service without NATS has no streams")
	}
	if !spec.WithoutNATS {
		s.NC, s.JS, err = bus.Connect(ctx, base.NATSURL, spec.Name+"@"+base.Instance, log)
		if err != nil {
			return err
		}
		defer func() {
			bus.Drain(s.NC, drainTimeout, log)
			log.Info().Str("event", EventShutdownStep).Str("step", "nats").Msg("NATS connection drained")
		}()
		if !spec.NATSOptional {
			s.Ops.AddReadiness("nats", bus.Ready(s.NC))
		}
	}
	s.Ops.AddReadiness("service", s.ready)
	s.Ops.SetWatchdog(base.WatchdogExitAfter)
	// Every stream on STREAM_REPLICAS servers, here and only here: each
	// declaration, the first and any after RedeclareStreams, puts the count
	// back.
	streams := bus.WithReplicas(base.StreamReplicas, spec.Streams...)
	return s.run(ctx, base.OpsAddr, func(ctx context.Context) error { return spec.BuildFunc(ctx, cfg, s) }, streams)
}

// Serve serves h on addr from when BuildFunc returns until the shutdown's first
// step; it listens at once, so a taken port fails BuildFunc. Its liveness check
// (named name) fails once the server has stopped serving.
func (s *Service) Serve(name, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for %s on %s: %w", name, addr, err)
	}
	s.ServeListener(name, ln, h)
	return nil
}

// ServeListener is Serve on a listener of the caller's. A server whose
// listener fails stops serving: its liveness check fails, and so does the
// service.
func (s *Service) ServeListener(name string, ln net.Listener, h http.Handler) {
	var down atomic.Bool
	s.Ops.AddLiveness(name, func(context.Context) error {
		if down.Load() {
			return fmt.Errorf("the %s HTTP server is not serving", name)
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servers = append(s.servers, func(ctx context.Context) error {
		defer down.Store(true)
		if err := obs.ServeHTTP(ctx, ln, h); err != nil {
			return fmt.Errorf("serving %s: %w", name, err)
		}
		return nil
	})
}

// Consume runs c once the streams are declared, until the shutdown's second
// step; c's Live and Ready become the service's.
func (s *Service) Consume(c *bus.Consumer) {
	name := "consumer " + c.Durable()
	s.Ops.AddLiveness(name, c.Live)
	s.Ops.AddReadiness(name, c.Ready)
	s.Go(c.Run)
}

// Go runs fn (a worker loop, a watcher) once the streams are declared, until
// the shutdown's second step cancels its ctx. An error fails the service.
func (s *Service) Go(fn func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tasks = append(s.tasks, fn)
}

// OnClose runs fn at the end of the shutdown, after the pool is closed.
func (s *Service) OnClose(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, fn)
}

// Elector returns the service's leader election on lockKey, for work only
// one replica may do at a time: its dedicated connection is named
// "<name>-election" in pg_stat_activity. It needs the pool.
func (s *Service) Elector(lockKey int64) *pgdb.Elector {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.elector == nil {
		connCfg := s.Pool.Config().ConnConfig.Copy()
		connCfg.RuntimeParams["application_name"] = s.Name + "-election"
		s.elector = pgdb.NewElector(connCfg, lockKey, s.Name, s.Log, s.Ops.Registry())
	}
	return s.elector
}

// RedeclareStreams asks for the streams to be declared again, e.g. after a
// publish found no stream listening on its subject (deleted by hand, or lost
// by JetStream). Requests made while one is pending are merged.
func (s *Service) RedeclareStreams() {
	select {
	case s.redeclare <- struct{}{}:
	default:
	}
}

// ready is the readiness check of the service itself.
func (s *Service) ready(context.Context) error {
	switch {
	case s.stopping.Load():
		return errors.New("stopping")
	case !s.declared.Load():
		return errors.New("streams not declared yet")
	case !s.started.Load():
		return errors.New("starting")
	}
	return nil
}

func (s *Service) close() {
	s.mu.Lock()
	closers := s.closers
	s.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// run starts the parts and, once ctx is done or a part failed, stops them in
// order; it returns the first failure.
func (s *Service) run(ctx context.Context, opsAddr string, build func(context.Context) error, streams []jetstream.StreamConfig) error {
	// The first part to fail cancels failed, its error the cause.
	failed, fail := context.WithCancelCause(context.Background())
	defer fail(nil)
	web, work, ops := newGroup(fail), newGroup(fail), newGroup(fail)
	ops.Go(func(ctx context.Context) error { return s.Ops.Serve(ctx, opsAddr) })
	work.Go(func(ctx context.Context) error {
		if err := build(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // shut down while starting: no failure
			}
			return err
		}
		s.mu.Lock()
		servers, tasks := s.servers, s.tasks
		s.mu.Unlock()
		for _, serve := range servers {
			web.Go(serve)
		}
		if !s.declareStreams(ctx, streams) {
			return nil
		}
		work.Go(func(ctx context.Context) error { s.keepStreams(ctx, streams); return nil })
		for _, task := range tasks {
			work.Go(task)
		}
		s.started.Store(true)
		s.Log.Info().Msg("started")
		return nil
	})

	select {
	case <-ctx.Done():
	case <-failed.Done():
	}
	s.stopping.Store(true)
	web.stop()
	s.Log.Info().Str("event", EventShutdownStep).Str("step", "http").Msg("HTTP servers stopped")
	work.stop()
	s.Log.Info().Str("event", EventShutdownStep).Str("step", "work").Msg("consumers and loops stopped")
	ops.stop()
	s.Log.Info().Str("event", EventShutdownStep).Str("step", "ops").Msg("ops endpoint stopped")
	if err := context.Cause(failed); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// declareStreams declares streams, retrying until NATS answers; false means
// ctx ended first.
func (s *Service) declareStreams(ctx context.Context, streams []jetstream.StreamConfig) bool {
	names := make([]string, len(streams))
	for i, st := range streams {
		names[i] = st.Name
	}
	replicas := 0 // Run gave every stream the same count
	if len(streams) > 0 {
		replicas = streams[0].Replicas
	}
	wait := declareFirstRetry
	for attempt := 1; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, declareTimeout)
		err := bus.DeclareStreams(dctx, s.JS, streams...)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			if !s.declared.Swap(true) || attempt > 1 {
				s.Log.Info().Str("event", EventStreamsDeclared).Strs("streams", names).Int("replicas", replicas).Msg("streams declared")
			}
			return true
		}
		s.declared.Store(false)
		s.Log.Warn().Str("event", EventStreamsDeclareFailed).Strs("streams", names).Err(err).Int("attempt", attempt).
			Dur("retry_in", wait).Msg("cannot declare the streams yet; retrying")
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, declareMaxRetry)
	}
}

// keepStreams declares the streams again on each RedeclareStreams, until
// ctx is done.
func (s *Service) keepStreams(ctx context.Context, streams []jetstream.StreamConfig) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.redeclare:
		}
		s.Log.Warn().Msg("a stream went missing; declaring the streams again")
		if !s.declareStreams(ctx, streams) {
			return
		}
	}
}

// group runs parts under one context, cancelled together by stop, which
// waits for them; a part started after stop is not run.
type group struct {
	ctx     context.Context
	cancel  context.CancelFunc
	fail    context.CancelCauseFunc
	mu      sync.Mutex
	wg      sync.WaitGroup
	stopped bool
}

func newGroup(fail context.CancelCauseFunc) *group {
	ctx, cancel := context.WithCancel(context.Background())
	return &group{ctx: ctx, cancel: cancel, fail: fail}
}

// Go runs fn; an error it returns fails the service.
func (g *group) Go(fn func(ctx context.Context) error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return
	}
	g.wg.Go(func() {
		if err := fn(g.ctx); err != nil {
			g.fail(err)
		}
	})
}

func (g *group) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}
