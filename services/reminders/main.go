package main

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/reminders/internal/feed"
	"github.com/vpnbot/vpnbot/services/reminders/internal/reminders"
)

// lockKey is the advisory lock replicas contend for with WORKER_SINGLETON
// ("vpnremd").
const lockKey int64 = 0x76706e72656d64

// claimMargin is how much longer than an iteration's timeout a claimed
// reminder that is not published yet keeps other replicas off, while the
// replica that claimed it lives.
const claimMargin = 30 * time.Second

func main() {
	service.Main(service.Spec[Config]{
		Name:     "reminders",
		Defaults: defaultConfig(),
		// OUTBOX takes the reminders.
		Streams: []jetstream.StreamConfig{outbox.StreamConfig()},
		BuildFunc: func(_ context.Context, cfg Config, s *service.Service) error {
			r, err := reminders.New(reminders.Config{Stages: cfg.Stages, BatchSize: cfg.BatchSize, Grace: cfg.Grace,
				ClaimTTL: cfg.IterationTimeout + claimMargin, RenewLead: cfg.RenewLead,
				Feed: feed.Config{ChatID: cfg.FeedChat, SummaryHour: cfg.FeedSummaryHour, Lang: cfg.FeedLang}},
				s.Pool, s.JS, s.Log, s.Ops.Registry())
			if err != nil {
				return err
			}
			_, err = worker.Start(s, cfg.Env, lockKey, r.Iterate)
			return err
		},
	})
}
