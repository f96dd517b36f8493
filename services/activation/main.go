package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/retry"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

const service = "activation"

// lockKey is the advisory lock replicas contend for with WORKER_SINGLETON
// ("vpnactv").
const lockKey int64 = 0x76706e61637476

// drainTimeout bounds the NATS drain at shutdown.
const drainTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, service+":", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := config.Load(defaultConfig())
	if err != nil {
		return err
	}
	log, err := obs.NewLogger(nil, service, cfg.Instance, cfg.LogLevel)
	if err != nil {
		return err
	}
	log.Info().Str("event", obs.EventServiceStart).Msg("starting")
	defer log.Info().Str("event", obs.EventServiceStop).Msg("stopped")
	log.Info().Str("event", obs.EventConfig).Fields(config.Fields(cfg)).Msg("configuration")

	panel, err := cfg.PanelEnv.New()
	if err != nil {
		return err
	}
	defer func() { _ = panel.Close() }()

	ops := obs.NewOps(log)
	pool, err := pgdb.Open(ctx, cfg.DB, service, log, ops.Registry())
	if err != nil {
		return err
	}
	// Deferred in reverse: NATS is drained before the pool closes.
	defer pool.Close()
	nc, js, err := bus.Connect(ctx, cfg.NATSURL, service+"@"+cfg.Instance, log)
	if err != nil {
		return err
	}
	defer bus.Drain(nc, drainTimeout, log)

	a, err := activation.New(activation.Config{Concurrency: cfg.Concurrency, BatchSize: cfg.BatchSize},
		shop.New(pool, shop.Config{}), pool, js, panel, log, ops.Registry())
	if err != nil {
		return err
	}
	wcfg := cfg.Env.Config(service)
	if wcfg.Singleton {
		connCfg := pool.Config().ConnConfig.Copy()
		connCfg.RuntimeParams["application_name"] = service + "-election"
		wcfg.Elector = pgdb.NewElector(connCfg, lockKey, service, log, ops.Registry())
	}
	w, err := worker.New(wcfg, a.Iterate, log, ops.Registry())
	if err != nil {
		return err
	}
	ops.AddLiveness("worker", w.Live)
	ops.AddReadiness("nats", bus.Ready(nc))
	ops.AddReadiness("postgres", pgdb.Ping(pool))

	g, ctx := errgroup.WithContext(ctx)
	ops.SetWatchdog(cfg.WatchdogExitAfter)
	g.Go(func() error { return ops.Serve(ctx, cfg.OpsAddr) })
	g.Go(func() error {
		if !declareStreams(ctx, js, log) {
			return nil // shut down before NATS answered
		}
		// Polling alone is correct; the wake-ups only shorten the wait.
		g.Go(func() error { return activation.ConsumeRequests(ctx, js, w.Wake, log) })
		return w.Run(ctx)
	})
	return g.Wait()
}

// declareStreams declares the EVENTS stream the worker is woken from and the
// OUTBOX stream it publishes keys to, retrying until NATS answers; false
// means ctx ended first.
func declareStreams(ctx context.Context, js jetstream.JetStream, log zerolog.Logger) bool {
	backoff := retry.Backoff{Min: 500 * time.Millisecond, Max: 10 * time.Second}
	for {
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return errors.Join(bus.EnsureEventsStream(ctx, js), outbox.EnsureStream(ctx, js))
		}()
		if err == nil {
			return true
		}
		log.Warn().Err(err).Msg("cannot declare the streams yet; retrying")
		if !retry.Sleep(ctx, backoff.Next()) {
			return false
		}
	}
}
