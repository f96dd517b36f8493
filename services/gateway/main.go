// Command gateway stores the updates Telegram and Crypto Pay send the bot in
// JetStream; internal/gateway tells how, and what it guarantees.
package main

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/gateway/internal/gateway"
)

func main() {
	service.Main(service.Spec[gateway.Config]{
		Name:     "gateway",
		Defaults: gateway.DefaultConfig(),
		// TG_UPDATES takes the Telegram updates; EVENTS the Crypto Pay ones.
		Streams: []jetstream.StreamConfig{telegram.UpdatesStreamConfig(), events.StreamConfig()},
		BuildFunc: func(_ context.Context, cfg gateway.Config, s *service.Service) error {
			return gateway.Start(s, cfg)
		},
	})
}
