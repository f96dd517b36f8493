package main

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/trial-notifier/internal/notifier"
)

// lockKey is the advisory lock replicas contend for with WORKER_SINGLETON
// ("vpntrial").
const lockKey int64 = 0x76706e747269616c

// claimMargin is how much longer than an iteration's timeout a claimed
// notice that is not published yet keeps other replicas off, while the
// replica that claimed it lives.
const claimMargin = 30 * time.Second

func main() {
	service.Main(service.Spec[Config]{
		Name:     "trial-notifier",
		Defaults: defaultConfig(),
		// OUTBOX takes the notices.
		Streams: []jetstream.StreamConfig{outbox.StreamConfig()},
		BuildFunc: func(_ context.Context, cfg Config, s *service.Service) error {
			n, err := notifier.New(notifier.Config{BatchSize: cfg.BatchSize, MaxAge: cfg.MaxAge, Grace: cfg.Grace,
				ClaimTTL: cfg.IterationTimeout + claimMargin, Leads: cfg.Leads}, s.Pool, s.JS, s.Log)
			if err != nil {
				return err
			}
			_, err = worker.Start(s, cfg.Env, lockKey, n.Iterate)
			return err
		},
	})
}
