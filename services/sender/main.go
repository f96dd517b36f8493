package main

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
	"github.com/vpnbot/vpnbot/services/sender/internal/sender"
)

// lockKey is the advisory lock the sender replicas contend for ("vpnsend").
const lockKey int64 = 0x76706e73656e64

func main() {
	service.Main(service.Spec[Config]{
		Name:     "sender",
		Defaults: defaultConfig(),
		// OUTBOX is read; the DLQ takes what cannot be sent.
		Streams: []jetstream.StreamConfig{outbox.StreamConfig(), bus.DLQStreamConfig()},
		BuildFunc: func(_ context.Context, cfg Config, s *service.Service) error {
			budget, err := chatpace.New(s.Pool, cfg.Pace)
			if err != nil {
				return err
			}
			client, err := cfg.Telegram.NewClient(s.Ops.Registry(), budget)
			if err != nil {
				return err
			}
			s.OnClose(client.Close)
			snd, err := sender.New(sender.Config{Rate: cfg.Rate, PaidRate: cfg.PaidRate, ChatRate: cfg.Pace.Rate, MaxAttempts: cfg.MaxAttempts},
				s.JS, s.Pool, client, s.Log, s.Ops.Registry())
			if err != nil {
				return err
			}
			s.Ops.AddLiveness("sender", snd.Live)
			elector := s.Elector(lockKey)
			// Only the leader sends: the rate limits are the bot's.
			s.Go(func(ctx context.Context) error { return elector.Run(ctx, snd.Lead) })
			// The DLQ's size, beside the bot-handler's, for the "DLQ not
			// empty" alert.
			s.Go(func(ctx context.Context) error {
				return bus.WatchDLQ(ctx, s.JS, []string{telegram.UpdatesStream, outbox.Stream}, bus.WatchInterval, s.Ops.Registry(), s.Log)
			})
			return nil
		},
	})
}
