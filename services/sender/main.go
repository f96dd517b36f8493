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
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/sender/internal/sender"
)

const service = "sender"

// lockKey is the advisory lock the sender replicas contend for ("vpnsend").
const lockKey int64 = 0x76706e73656e64

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

	client := sender.NewClient(cfg.TelegramAPIURL, cfg.TelegramToken)
	defer client.CloseIdle()
	s, err := sender.New(sender.Config{Rate: cfg.Rate, ChatRate: cfg.ChatRate, MaxAttempts: cfg.MaxAttempts},
		js, pool, client, log, ops.Registry())
	if err != nil {
		return err
	}
	ops.AddLiveness("sender", s.Live)
	ops.AddReadiness("nats", bus.Ready(nc))
	ops.AddReadiness("postgres", pgdb.Ping(pool))

	connCfg := pool.Config().ConnConfig.Copy()
	connCfg.RuntimeParams["application_name"] = service + "-election"
	elector := pgdb.NewElector(connCfg, lockKey, service, log, ops.Registry())

	g, ctx := errgroup.WithContext(ctx)
	ops.SetWatchdog(cfg.WatchdogExitAfter)
	g.Go(func() error { return ops.Serve(ctx, cfg.OpsAddr) })
	// The sender reads OUTBOX without a bus.Runner, so its lag is watched
	// here, and the DLQ's size beside it (the bot-handler exports it too).
	g.Go(func() error {
		durables := make([]string, 0, len(outbox.Priorities()))
		for _, p := range outbox.Priorities() {
			durables = append(durables, sender.Durable(p))
		}
		return bus.WatchConsumers(ctx, js, outbox.Stream, durables, bus.WatchInterval, ops.Registry(), log)
	})
	g.Go(func() error {
		return bus.WatchDLQ(ctx, js, []string{telegram.UpdatesStream, outbox.Stream}, bus.WatchInterval, ops.Registry(), log)
	})
	g.Go(func() error {
		if !declareStreams(ctx, js, log) {
			return nil // shut down before NATS answered
		}
		// Lead returns once it has stopped fetching, finished the sends in
		// flight and given back what it held.
		return elector.Run(ctx, s.Lead)
	})
	return g.Wait()
}

// declareStreams declares the OUTBOX stream the sender reads and the DLQ it
// writes, retrying until NATS answers; false means ctx ended first.
func declareStreams(ctx context.Context, js jetstream.JetStream, log zerolog.Logger) bool {
	backoff := retry.Backoff{Min: 500 * time.Millisecond, Max: 10 * time.Second}
	for {
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return errors.Join(bus.DeclareStreams(ctx, js, outbox.StreamConfig()), bus.DeclareStreams(ctx, js, bus.DLQStreamConfig()))
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
