// Command bot-handler is the bot: it answers the Telegram updates the
// gateway stores in TG_UPDATES. How a delivery becomes a handled update is
// internal/updates' story, what the bot says internal/bot's, and its SQL
// internal/store's.
package main

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/updates"
)

func main() {
	service.Main(spec())
}

// spec is the whole service, which the test runs as main does.
func spec() service.Spec[Config] {
	return service.Spec[Config]{
		Name:     "bot-handler",
		Defaults: defaultConfig(),
		// TG_UPDATES is read; DLQ takes its dead letters; EVENTS and OUTBOX
		// take activation requests and broadcasts.
		Streams: []jetstream.StreamConfig{
			telegram.UpdatesStreamConfig(), bus.DLQStreamConfig(), events.StreamConfig(), outbox.StreamConfig(),
		},
		BuildFunc: func(ctx context.Context, cfg Config, s *service.Service) error {
			botID, err := telegram.BotID(cfg.Telegram.Token)
			if err != nil {
				return fmt.Errorf("TELEGRAM_BOT_TOKEN: %w", err)
			}
			budget, err := chatpace.New(s.Pool, cfg.Pace)
			if err != nil {
				return err
			}
			client, err := cfg.Telegram.NewClient(s.Ops.Registry(), budget)
			if err != nil {
				return err
			}
			s.OnClose(client.Close)
			users := store.New(s.Pool)
			channel, err := channelgate.New(client, cfg.Channel, s.Ops.Registry())
			if err != nil {
				return err
			}
			// A nil interface, not a nil *Client, hides the Crypto Pay button.
			var invoicer bot.Invoicer
			if cfg.CryptoPayToken == "" {
				s.Log.Info().Msg("CRYPTOPAY_TOKEN is not set: Crypto Pay is off, plans are paid with Telegram Stars only")
			} else {
				cp, err := cryptopay.New(cryptopay.Config{
					BaseURL: cfg.CryptoPayAPIURL, Token: cfg.CryptoPayToken, Registerer: s.Ops.Registry(),
				})
				if err != nil {
					return err
				}
				invoicer = cp
			}
			// Waits until Telegram says who the bot is.
			b, err := bot.New(ctx, bot.Config{
				Client: client,
				Users:  users,
				// A request making a Crypto Pay invoice gives up at its
				// handler's deadline: its claim is free from then on.
				Shop: shop.New(s.Pool, shop.Config{TrialDuration: cfg.TrialDuration, InvoiceTTL: cfg.InvoiceTTL,
					ExternalClaimTTL: cfg.HandlerTimeout, Referrals: cfg.Referrals.Referrals()}),
				CryptoPay:     invoicer,
				CryptoAssets:  cfg.CryptoPayAssets,
				PaymentChecks: bot.NATSPaymentChecks{NC: s.NC},
				Activations:   bot.StreamActivations{JS: s.JS},
				Broadcasts:    users,
				Outbox:        bot.StreamOutbox{JS: s.JS},
				BroadcastRate: cfg.SenderRate,
				AdminIDs:      cfg.AdminIDs,
				Support:       cfg.SupportContact,
				Channel:       channel,
				AppURL:        cfg.AppURL,
				Log:           s.Log,
			})
			if err != nil {
				return err
			}
			h, err := updates.NewHandler(botID, users, b, s.Log, s.Ops.Registry(), updates.WithCallbackMaxAge(cfg.CallbackMaxAge))
			if err != nil {
				return err
			}
			c, err := bus.NewConsumer(s.JS, bus.ConsumerConfig{
				Mode:           bus.Partitioned,
				Stream:         telegram.UpdatesStream,
				Subject:        telegram.UpdatesSubjectPrefix,
				Durable:        updates.Durable,
				Partitions:     cfg.Partitions,
				HandleFunc:     h.Handle,
				HandlerTimeout: cfg.HandlerTimeout,
				MaxDeliver:     cfg.MaxDeliver,
				RetryBase:      cfg.RetryBase,
				RetryMax:       cfg.RetryMax,
				FetchWait:      cfg.FetchWait,
				// While PostgreSQL is down nothing can be handled: stop
				// fetching rather than burn deliveries into the DLQ.
				GateFunc: pgdb.Ping(s.Pool),
			}, s.Log, s.Ops.Registry())
			if err != nil {
				return err
			}
			s.Consume(c)
			// The DLQ's size, for the "DLQ not empty" alert; the sender
			// exports it too.
			s.Go(func(ctx context.Context) error {
				return bus.WatchDLQ(ctx, s.JS, []string{telegram.UpdatesStream}, bus.WatchInterval, s.Ops.Registry(), s.Log)
			})
			return nil
		},
	}
}
