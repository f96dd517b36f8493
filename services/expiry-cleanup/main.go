package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/cleanup"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/prune"
)

const service = "expiry-cleanup"

// lockKey is the advisory lock replicas contend for with WORKER_SINGLETON
// ("vpnexpc").
const lockKey int64 = 0x76706e65787063

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
		// OUTBOX takes the notices.
		Streams:     []func(context.Context, jetstream.JetStream) error{outbox.EnsureStream},
		StreamsName: "the OUTBOX stream",
		Setup: func(_ context.Context, d worker.Deps) (worker.Parts, error) {
			panel, err := cfg.PanelEnv.New()
			if err != nil {
				return worker.Parts{}, err
			}
			c, err := cleanup.New(cfg.cleanupConfig(), shop.New(d.Pool, shop.Config{}), d.Pool, d.JS, panel, d.Log, d.Ops.Registry())
			if err != nil {
				_ = panel.Close()
				return worker.Parts{}, err
			}
			p, err := prune.New(cfg.pruneConfig(), d.Pool, d.Log, d.Ops.Registry())
			if err != nil {
				_ = panel.Close()
				return worker.Parts{}, err
			}
			return worker.Parts{Iterate: iterate(c, p), Close: func() { _ = panel.Close() }}, nil
		},
	})
}

// iterate is the worker's iteration: the cleanup, then, when one is due,
// a pruning pass with the time left. A failure of either does not keep the
// other from running; both are reported.
func iterate(c *cleanup.Cleaner, p *prune.Pruner) worker.IterationFunc {
	return func(ctx context.Context) (worker.Result, error) {
		res, err := c.Iterate(ctx)
		if res == nil {
			res = worker.Result{}
		}
		return res, errors.Join(err, p.Prune(ctx, res))
	}
}
