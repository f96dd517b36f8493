package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/payment-watcher/internal/watcher"
)

const service = "payment-watcher"

// lockKey is the advisory lock the pollers contend for ("vpnpayw").
const lockKey int64 = 0x76706e70617977

// defaultInterval is WORKER_INTERVAL's default: webhooks bring payments in
// seconds; polling is the fallback for the ones they lose.
const defaultInterval = 30 * time.Second

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
	return worker.RunService(ctx, worker.ServiceSpec{
		Name: service, LockKey: lockKey,
		Config: cfg, Base: cfg.Base, DB: cfg.DB, Env: cfg.Env,
		// EVENTS is read and written; OUTBOX is written.
		Streams:     []func(context.Context, jetstream.JetStream) error{bus.EnsureEventsStream, outbox.EnsureStream},
		StreamsName: "the streams",
		Setup: func(_ context.Context, d worker.Deps) (worker.Parts, error) {
			cp, err := cryptopay.New(cryptopay.Config{BaseURL: cfg.CryptoPayAPIURL, Token: cfg.CryptoPayToken, Registerer: d.Ops.Registry()})
			if err != nil {
				return worker.Parts{}, err
			}
			w, err := watcher.New(watcher.Config{}, watcher.Deps{
				Shop: shop.New(d.Pool, shop.Config{}), CryptoPay: cp, JS: d.JS, Log: d.Log, Registerer: d.Ops.Registry(),
			})
			if err != nil {
				return worker.Parts{}, err
			}
			d.Ops.AddLiveness("consumer", w.Live)
			d.Ops.AddReadiness("consumer", w.Ready)
			return worker.Parts{
				Iterate:   w.Poll,
				LiveCheck: "poller",
				// The poller starts at once; only the consumer waits for the streams.
				RunBeforeStreams: true,
				After: []func(context.Context, *worker.Worker) error{
					func(ctx context.Context, _ *worker.Worker) error { return w.Consume(ctx) },
					// Webhook events waiting (or failing) are payments
					// waiting to be applied: their lag is alerted on.
					func(ctx context.Context, _ *worker.Worker) error {
						return bus.WatchConsumers(ctx, d.JS, bus.StreamEvents, []string{watcher.DefaultDurable},
							bus.WatchInterval, d.Ops.Registry(), d.Log)
					},
				},
			}, nil
		},
	})
}
