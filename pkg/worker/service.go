package worker

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/retry"
)

// drainTimeout bounds the NATS drain at shutdown.
const drainTimeout = 10 * time.Second

// ServiceSpec describes one worker service for RunService: the parts of its
// loaded configuration the runtime reads, and Setup, which builds what is the
// service's own.
type ServiceSpec struct {
	// Name is the service name, in logs, metrics and connection names.
	Name string
	// LockKey is the advisory lock replicas contend for with WORKER_SINGLETON.
	LockKey int64
	// Config is the service's whole typed configuration, logged as CONFIG.
	Config any
	Base   config.Base
	DB     config.DB
	Env    Env
	// Streams declare the JetStream streams the service reads or writes;
	// StreamsName names them in the warning logged while NATS does not answer
	// ("the streams", "the OUTBOX stream").
	Streams     []func(ctx context.Context, js jetstream.JetStream) error
	StreamsName string
	// Setup builds the service's iteration once PostgreSQL and NATS are
	// connected; it may add its own checks to Deps.Ops. On error it releases
	// what it opened itself.
	Setup func(ctx context.Context, d Deps) (Parts, error)
	// LogOutput is where the logs go; nil is stdout.
	LogOutput io.Writer
}

// Deps are the connections RunService opens for Setup.
type Deps struct {
	Log  zerolog.Logger
	Ops  *obs.Ops
	Pool *pgxpool.Pool
	NC   *nats.Conn
	JS   jetstream.JetStream
}

// Parts is what a service's Setup builds.
type Parts struct {
	// Iterate is the loop's iteration.
	Iterate IterationFunc
	// LiveCheck names the loop's liveness check; "worker" when empty.
	LiveCheck string
	// RunBeforeStreams starts the loop without waiting for Streams, for an
	// iteration that does not need them (payment-watcher's poller).
	RunBeforeStreams bool
	// After run beside the loop once Streams are declared (consumers of
	// them); w is the loop, for its Wake.
	After []func(ctx context.Context, w *Worker) error
	// Close, when set, releases what Setup opened; it runs after the pool is
	// closed, just before SERVICE_STOP.
	Close func()
}

// RunService runs a worker service until ctx ends: it logs SERVICE_START and
// CONFIG, opens the pool and the NATS connection, elects a leader when
// WORKER_SINGLETON (its connection is named "<name>-election"), serves the
// ops endpoint (liveness of the loop, readiness of NATS and PostgreSQL),
// declares Streams with retries and runs the loop. On the way out NATS is
// drained, then the pool closed, then Parts.Close run, then SERVICE_STOP
// logged.
func RunService(ctx context.Context, spec ServiceSpec) error {
	log, err := obs.NewLogger(spec.LogOutput, spec.Name, spec.Base.Instance, spec.Base.LogLevel)
	if err != nil {
		return err
	}
	log.Info().Str("event", obs.EventServiceStart).Msg("starting")
	defer log.Info().Str("event", obs.EventServiceStop).Msg("stopped")
	log.Info().Str("event", obs.EventConfig).Fields(config.Fields(spec.Config)).Msg("configuration")

	// What Setup opened (a VPN panel client) outlives the pool, as it did
	// when each service opened it first.
	var parts Parts
	defer func() {
		if parts.Close != nil {
			parts.Close()
		}
	}()

	ops := obs.NewOps(log)
	pool, err := pgdb.Open(ctx, spec.DB, spec.Name, log, ops.Registry())
	if err != nil {
		return err
	}
	// Deferred in reverse: NATS is drained before the pool closes.
	defer pool.Close()
	nc, js, err := bus.Connect(ctx, spec.Base.NATSURL, spec.Name+"@"+spec.Base.Instance, log)
	if err != nil {
		return err
	}
	defer bus.Drain(nc, drainTimeout, log)

	built, err := spec.Setup(ctx, Deps{Log: log, Ops: ops, Pool: pool, NC: nc, JS: js})
	if err != nil {
		return err
	}
	parts = built
	wcfg := spec.Env.Config(spec.Name)
	if wcfg.Singleton {
		connCfg := pool.Config().ConnConfig.Copy()
		connCfg.RuntimeParams["application_name"] = spec.Name + "-election"
		wcfg.Elector = pgdb.NewElector(connCfg, spec.LockKey, spec.Name, log, ops.Registry())
	}
	w, err := New(wcfg, parts.Iterate, log, ops.Registry())
	if err != nil {
		return err
	}
	liveCheck := parts.LiveCheck
	if liveCheck == "" {
		liveCheck = "worker"
	}
	ops.AddLiveness(liveCheck, w.Live)
	ops.AddReadiness("nats", bus.Ready(nc))
	ops.AddReadiness("postgres", pgdb.Ping(pool))

	g, ctx := errgroup.WithContext(ctx)
	ops.SetWatchdog(spec.Base.WatchdogExitAfter)
	g.Go(func() error { return ops.Serve(ctx, spec.Base.OpsAddr) })
	if parts.RunBeforeStreams {
		g.Go(func() error { return w.Run(ctx) })
	}
	g.Go(func() error {
		if !declareStreams(ctx, js, spec, log) {
			return nil // shut down before NATS answered
		}
		for _, fn := range parts.After {
			g.Go(func() error { return fn(ctx, w) })
		}
		if parts.RunBeforeStreams {
			return nil
		}
		return w.Run(ctx)
	})
	return g.Wait()
}

// declareStreams declares spec.Streams, retrying until NATS answers; false
// means ctx ended first.
func declareStreams(ctx context.Context, js jetstream.JetStream, spec ServiceSpec, log zerolog.Logger) bool {
	backoff := retry.Backoff{Min: 500 * time.Millisecond, Max: 10 * time.Second}
	for {
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			errs := make([]error, 0, len(spec.Streams))
			for _, declare := range spec.Streams {
				errs = append(errs, declare(ctx, js))
			}
			return errors.Join(errs...)
		}()
		if err == nil {
			return true
		}
		log.Warn().Err(err).Msg("cannot declare " + spec.StreamsName + " yet; retrying")
		if !retry.Sleep(ctx, backoff.Next()) {
			return false
		}
	}
}
