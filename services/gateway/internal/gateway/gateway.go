package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/service"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/tracing"
)

// pollStallAfter is how long the poller may go without making progress
// before /livez fails. A getUpdates call or a publish retry never takes more
// than about 35 seconds.
const pollStallAfter = 2 * time.Minute

// Start builds the gateway on s, the service skeleton, which has declared
// (or keeps declaring) TG_UPDATES and EVENTS: it serves Handler on
// HTTP_ADDR, under the liveness check "webhook_server", and runs Run.
func Start(s *service.Service, cfg Config) error {
	// The gateway sends no messages: nothing to pace.
	tg, err := cfg.Telegram.NewClient(s.Ops.Registry(), nil)
	if err != nil {
		return fmt.Errorf("building the Bot API client: %w", err)
	}
	s.OnClose(tg.Close)
	g, err := New(cfg, Deps{Log: s.Log, NC: s.NC, JS: s.JS, Ops: s.Ops, Telegram: tg, RedeclareStreamsFunc: s.RedeclareStreams})
	if err != nil {
		return err
	}
	if err := s.Serve("webhook_server", cfg.HTTPAddr, g.Handler()); err != nil {
		return err
	}
	s.Go(g.Run)
	return nil
}

// Deps are what the gateway is given by Start.
type Deps struct {
	Log zerolog.Logger
	// NC and JS are the NATS connection; the gateway publishes on them but
	// does not close them.
	NC *nats.Conn
	JS jetstream.JetStream
	// Ops receives the gateway's metrics and the poller's liveness check.
	Ops *obs.Ops
	// Telegram calls the Bot API (webhook registration, long polling).
	Telegram *telegram.Client
	// RedeclareStreamsFunc asks for the streams to be declared again: a
	// publish found no stream listening on its subject.
	RedeclareStreamsFunc func()
}

// Gateway receives Telegram updates and stores them in TG_UPDATES.
type Gateway struct {
	cfg      Config
	log      zerolog.Logger
	api      *telegram.Client
	pub      *publisher
	traffic  *traffic
	handler  http.Handler
	pollBeat *obs.Heartbeat
}

// New builds the gateway from a validated cfg and registers its metrics
// and, in poll mode, the liveness check of the poller's progress.
func New(cfg Config, d Deps) (*Gateway, error) {
	botID, err := telegram.BotID(cfg.Telegram.Token)
	if err != nil {
		return nil, fmt.Errorf("building the gateway: %w", err)
	}
	m, err := newMetrics(d.Ops.Registry())
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:      cfg,
		log:      d.Log,
		api:      d.Telegram,
		traffic:  &traffic{gauge: m.lastUpdate},
		pollBeat: obs.NewHeartbeat(pollStallAfter),
	}
	g.pub = &publisher{
		nc:                   d.NC,
		js:                   d.JS,
		botID:                strconv.FormatInt(botID, 10),
		partitions:           cfg.Partitions,
		timeout:              cfg.PublishTimeout,
		m:                    m,
		redeclareStreamsFunc: d.RedeclareStreamsFunc,
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+WebhookPath, newWebhook(cfg.WebhookSecret, g.pub, g.traffic, m, d.Log))
	if err := g.addCryptoPay(mux, d); err != nil {
		return nil, err
	}
	// Each webhook request is a span, the root of its update's trace
	// through the bot-handler and the sender.
	g.handler = tracing.HTTPHandler(mux, "webhook")
	if cfg.Mode == ModePoll {
		d.Ops.AddLiveness("poller", g.pollBeat.Check)
	}
	return g, nil
}

// Handler serves POST /telegram/webhook, and POST /cryptopay/webhook when
// CRYPTOPAY_TOKEN is set, each request a span (pkg/tracing).
func (g *Gateway) Handler() http.Handler { return g.handler }

// Run runs the gateway's own loops until ctx is done: registering the
// webhook (with WEBHOOK_PUBLIC_URL) or polling (in poll mode), and the
// start-up watchdog. The poller confirms to Telegram on its way out what
// it stored.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { g.watchGrace(ctx) })
	switch {
	case g.cfg.Mode == ModePoll:
		wg.Go(func() { g.poll(ctx) })
	case g.cfg.WebhookPublicURL != "":
		wg.Go(func() { g.registerWebhook(ctx) })
	}
	wg.Wait()
	return nil
}
