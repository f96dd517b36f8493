package main

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/payment-watcher/internal/watcher"
)

// lockKey is the advisory lock the pollers contend for ("vpnpayw").
const lockKey int64 = 0x76706e70617977

// defaultInterval is WORKER_INTERVAL's default: webhooks bring payments in
// seconds; polling is the fallback for the ones they lose.
const defaultInterval = 30 * time.Second

func main() {
	service.Main(service.Spec[Config]{
		Name:     "payment-watcher",
		Defaults: defaultConfig(),
		// EVENTS is read and written; OUTBOX is written.
		Streams: []jetstream.StreamConfig{events.StreamConfig(), outbox.StreamConfig()},
		BuildFunc: func(_ context.Context, cfg Config, s *service.Service) error {
			cp, err := cryptopay.New(cryptopay.Config{BaseURL: cfg.CryptoPayAPIURL, Token: cfg.CryptoPayToken, Registerer: s.Ops.Registry()})
			if err != nil {
				return err
			}
			w, err := watcher.New(watcher.Config{}, watcher.Deps{
				Shop: shop.New(s.Pool, shop.Config{Referrals: cfg.Referrals.Referrals()}), CryptoPay: cp, JS: s.JS, Log: s.Log, Registerer: s.Ops.Registry(),
			})
			if err != nil {
				return err
			}
			// Webhook events bring payments in seconds; the poller is the
			// fallback for those they lose.
			s.Consume(w.Consumer())
			// A user's "I paid" asks one replica to check their order now.
			if _, err := w.ServeChecks(s.NC); err != nil {
				return err
			}
			_, err = worker.Start(s, cfg.Env, lockKey, w.Poll)
			return err
		},
	})
}
