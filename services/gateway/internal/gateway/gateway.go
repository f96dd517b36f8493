package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/gateway/internal/botapi"
)

// pollStallAfter is how long the poller may go without making progress
// before /livez fails. A getUpdates call or a publish retry never takes more
// than about 35 seconds.
const pollStallAfter = 2 * time.Minute

// Deps are what the gateway is given by main.
type Deps struct {
	Log zerolog.Logger
	// NC and JS are the NATS connection (from bus.Connect); the gateway
	// publishes on them but does not close them.
	NC *nats.Conn
	JS jetstream.JetStream
	// Ops receives the gateway's metrics and health checks.
	Ops *obs.Ops
	// HTTPClient calls the Bot API; nil means a default client. It needs no
	// timeout: every call has its own.
	HTTPClient *http.Client
}

// Gateway receives Telegram updates and stores them in TG_UPDATES.
type Gateway struct {
	cfg     Config
	log     zerolog.Logger
	js      jetstream.JetStream
	m       *metrics
	api     *botapi.Client
	hc      *http.Client
	pub     *publisher
	traffic *traffic
	handler http.Handler

	serverDown  atomic.Bool // the webhook server stopped serving
	streamReady atomic.Bool
	streamLost  chan struct{} // capacity 1: a pending request to declare the stream again
	pollBeat    *obs.Heartbeat
	cryptoPay   *cryptoPayWebhook // nil without CRYPTOPAY_TOKEN
}

// New builds the gateway from a validated cfg and registers its metrics and
// checks: ready while NATS is connected and the stream declared; live while
// the webhook server serves and, in poll mode, the poller makes progress.
func New(cfg Config, d Deps) (*Gateway, error) {
	botID, err := telegram.BotID(cfg.BotToken)
	if err != nil {
		return nil, fmt.Errorf("building the gateway: %w", err)
	}
	m, err := newMetrics(d.Ops.Registry())
	if err != nil {
		return nil, err
	}
	hc := d.HTTPClient
	if hc == nil {
		// A transport of its own, whose idle connections Run closes on the way out.
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	g := &Gateway{
		cfg:        cfg,
		log:        d.Log,
		js:         d.JS,
		m:          m,
		api:        botapi.New(cfg.TelegramAPIURL, cfg.BotToken, hc, m.observeTelegram),
		hc:         hc,
		traffic:    &traffic{gauge: m.lastUpdate},
		streamLost: make(chan struct{}, 1),
		pollBeat:   obs.NewHeartbeat(pollStallAfter),
	}
	g.pub = &publisher{
		nc:         d.NC,
		js:         d.JS,
		botID:      strconv.FormatInt(botID, 10),
		partitions: cfg.Partitions,
		timeout:    cfg.PublishTimeout,
		m:          m,
		streamLost: g.redeclareStream,
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+WebhookPath, newWebhook(cfg.WebhookSecret, g.pub, g.traffic, m, d.Log))
	if err := g.addCryptoPay(mux, d); err != nil {
		return nil, err
	}
	g.handler = mux

	d.Ops.AddReadiness("nats", bus.Ready(d.NC))
	d.Ops.AddReadiness("stream", func(context.Context) error {
		if !g.streamReady.Load() {
			return fmt.Errorf("stream %s not declared yet", telegram.UpdatesStream)
		}
		return nil
	})
	d.Ops.AddLiveness("webhook_server", func(context.Context) error {
		if g.serverDown.Load() {
			return errors.New("the webhook HTTP server is not serving")
		}
		return nil
	})
	if cfg.Mode == ModePoll {
		d.Ops.AddLiveness("poller", g.pollBeat.Check)
	}
	return g, nil
}

// Handler serves POST /telegram/webhook, and POST /cryptopay/webhook when
// CRYPTOPAY_TOKEN is set.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Run serves the webhook on ln and runs the background work (declaring the
// stream, registering the webhook or polling, the start-up watchdog) until
// ctx is done. Then it stops the HTTP server, letting requests in flight
// finish, and the poller, and returns; the caller drains NATS afterwards.
func (g *Gateway) Run(ctx context.Context, ln net.Listener) error {
	defer g.hc.CloseIdleConnections()
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		defer g.serverDown.Store(true)
		if err := obs.ServeHTTP(ctx, ln, g.handler); err != nil {
			return fmt.Errorf("serving the webhook: %w", err)
		}
		return nil
	})
	eg.Go(func() error { g.keepStream(ctx); return nil })
	eg.Go(func() error { g.watchGrace(ctx); return nil })
	if g.cryptoPay != nil {
		eg.Go(func() error { g.cryptoPay.keepStream(ctx, g.log); return nil })
	}
	switch {
	case g.cfg.Mode == ModePoll:
		eg.Go(func() error { g.poll(ctx); return nil })
	case g.cfg.WebhookPublicURL != "":
		eg.Go(func() error { g.registerWebhook(ctx); return nil })
	}
	return eg.Wait()
}
