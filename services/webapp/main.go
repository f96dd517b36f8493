package main

import (
	"context"

	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/webapp/internal/webapp"
)

func main() {
	service.Main(service.Spec[Config]{
		Name:     "webapp",
		Defaults: defaultConfig(),
		// Reads and orders go to the database through the shop; the
		// payment-watcher, which polls, confirms the orders. NATS only
		// carries the wake-up of a purchase, which the activation worker's
		// polling also finds: the app stays ready without it.
		NATSOptional: true,
		BuildFunc: func(ctx context.Context, cfg Config, s *service.Service) error {
			client, err := cfg.Telegram.NewClient(s.Ops.Registry(), nil)
			if err != nil {
				return err
			}
			s.OnClose(client.Close)
			// Waits until Telegram says who the bot is: invite links name it.
			username, err := webapp.BotUsername(ctx, client, s.Log)
			if err != nil {
				return err
			}
			// A nil interface, not a nil *Client, offers no Crypto Pay.
			var invoicer webapp.Invoicer
			if cfg.CryptoPayToken == "" {
				s.Log.Info().Msg("CRYPTOPAY_TOKEN is not set: the app orders nothing, plans are paid in the bot")
			} else {
				cp, err := cryptopay.New(cryptopay.Config{
					BaseURL: cfg.CryptoPayAPIURL, Token: cfg.CryptoPayToken, Registerer: s.Ops.Registry(),
				})
				if err != nil {
					return err
				}
				invoicer = cp
			}
			channel, err := channelgate.New(client, cfg.Channel, s.Ops.Registry())
			if err != nil {
				return err
			}
			srv, err := webapp.New(webapp.Config{
				// A request making a Crypto Pay invoice gives up at its
				// deadline: its claim is free from then on.
				Shop:     shop.New(s.Pool, shop.Config{InvoiceTTL: cfg.InvoiceTTL, ExternalClaimTTL: cfg.RequestTimeout}),
				BotToken: cfg.Telegram.Token, BotUsername: username,
				SessionTTL: cfg.SessionTTL, InitDataMaxAge: cfg.InitDataMaxAge,
				CryptoPay: invoicer, CryptoAssets: cfg.CryptoPayAssets, Telegram: client,
				Activations: webapp.StreamActivations{JS: s.JS}, Channel: channel,
				IPRate: cfg.IPRate, IPBurst: cfg.IPBurst, UserRate: cfg.UserRate, UserBurst: cfg.UserBurst,
				ClientIPHeader: cfg.ClientIPHeader, RequestTimeout: cfg.RequestTimeout, FrameAncestors: cfg.FrameAncestors,
				Log: s.Log, Registerer: s.Ops.Registry(),
			})
			if err != nil {
				return err
			}
			return s.Serve("webapp", cfg.HTTPAddr, srv.Handler())
		},
	})
}
