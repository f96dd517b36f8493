package main

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpnmetrics"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

// lockKey is the advisory lock replicas contend for with WORKER_SINGLETON
// ("vpnactv").
const lockKey int64 = 0x76706e61637476

func main() {
	service.Main(service.Spec[Config]{
		Name:     "activation",
		Defaults: defaultConfig(),
		// EVENTS wakes the worker; OUTBOX takes the keys it publishes.
		Streams: []jetstream.StreamConfig{events.StreamConfig(), outbox.StreamConfig()},
		BuildFunc: func(ctx context.Context, cfg Config, s *service.Service) error {
			fleet, err := vpnmetrics.Fleet(cfg.PanelEnv, cfg.Concurrency, s.Ops.Registry())
			if err != nil {
				return err
			}
			s.OnClose(func() { _ = fleet.Close() })
			// The bot-handler offers the locations of the fleet as
			// configured here; a replica started during a database
			// outage waits for it.
			if err := activation.PublishFleetWhenPossible(ctx, s.Pool, fleet, s.Log); err != nil {
				return err
			}
			a, err := activation.New(activation.Config{Concurrency: cfg.Concurrency, BatchSize: cfg.BatchSize, App: cfg.AppURL},
				shop.New(s.Pool, shop.Config{DynamicKeys: cfg.Keys}), s.Pool, s.JS, fleet, s.Log, s.Ops.Registry())
			if err != nil {
				return err
			}
			w, err := worker.Start(s, cfg.Env, lockKey, a.Iterate)
			if err != nil {
				return err
			}
			// Polling alone is correct; the wake-ups only shorten the wait.
			wake, err := activation.WakeConsumer(s.JS, w.WakeFrom, s.Log, s.Ops.Registry())
			if err != nil {
				return err
			}
			s.Consume(wake)
			return nil
		},
	})
}
