package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

const service = "activation"

// lockKey is the advisory lock replicas contend for with WORKER_SINGLETON
// ("vpnactv").
const lockKey int64 = 0x76706e61637476

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
		// EVENTS wakes the worker; OUTBOX takes the keys it publishes.
		Streams:     []func(context.Context, jetstream.JetStream) error{bus.EnsureEventsStream, outbox.EnsureStream},
		StreamsName: "the streams",
		Setup: func(_ context.Context, d worker.Deps) (worker.Parts, error) {
			panel, err := cfg.PanelEnv.New()
			if err != nil {
				return worker.Parts{}, err
			}
			a, err := activation.New(activation.Config{Concurrency: cfg.Concurrency, BatchSize: cfg.BatchSize},
				shop.New(d.Pool, shop.Config{}), d.Pool, d.JS, panel, d.Log, d.Ops.Registry())
			if err != nil {
				_ = panel.Close()
				return worker.Parts{}, err
			}
			return worker.Parts{
				Iterate: a.Iterate,
				// Polling alone is correct; the wake-ups only shorten the wait.
				After: []func(context.Context, *worker.Worker) error{func(ctx context.Context, w *worker.Worker) error {
					return activation.ConsumeRequests(ctx, d.JS, w.Wake, d.Log)
				}},
				Close: func() { _ = panel.Close() },
			}, nil
		},
	})
}
