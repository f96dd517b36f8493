package main

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpnmetrics"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/cleanup"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/prune"
)

// lockKey is the advisory lock replicas contend for with WORKER_SINGLETON
// ("vpnexpc").
const lockKey int64 = 0x76706e65787063

func main() {
	service.Main(service.Spec[Config]{
		Name:     "expiry-cleanup",
		Defaults: defaultConfig(),
		// OUTBOX takes the notices.
		Streams: []jetstream.StreamConfig{outbox.StreamConfig()},
		BuildFunc: func(_ context.Context, cfg Config, s *service.Service) error {
			fleet, err := vpnmetrics.Fleet(cfg.PanelEnv, cfg.Concurrency, s.Ops.Registry())
			if err != nil {
				return err
			}
			s.OnClose(func() { _ = fleet.Close() })
			c, err := cleanup.New(cfg.cleanupConfig(), shop.New(s.Pool, shop.Config{DynamicKeys: cfg.Keys}), s.Pool, s.JS, fleet, s.Log, s.Ops.Registry())
			if err != nil {
				return err
			}
			p, err := prune.New(cfg.pruneConfig(), s.Pool, s.Log, s.Ops.Registry())
			if err != nil {
				return err
			}
			_, err = worker.Start(s, cfg.Env, lockKey, iterate(c, p))
			return err
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
