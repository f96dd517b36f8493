package localstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
	"github.com/vpnbot/vpnbot/pkg/procs"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	sandboxoutline "github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// Names of the services a Stack runs, as built from services/<name> and as
// OpsURL and Metrics take them.
const (
	Gateway    = "gateway"
	BotHandler = "bot-handler"
	Sender     = "sender"
	Activation = "activation"
	// PaymentWatcher is the payment-watcher worker.
	PaymentWatcher = "payment-watcher"
	Reminders      = "reminders"
	TrialNotifier  = "trial-notifier"
	ExpiryCleanup  = "expiry-cleanup"
	Migrate        = "migrate"
)

// Defaults of Config.
const (
	DefaultToken       = "123456:SANDBOX-TOKEN"
	DefaultSandboxAddr = "127.0.0.1:0"
	// DefaultCryptoPayToken has the shape of a Crypto Pay app token
	// (<app id>:<secret>).
	DefaultCryptoPayToken = "4321:SANDBOX-CRYPTOPAY-TOKEN"
	// DefaultSupportContact is the support contact the bot shows users.
	DefaultSupportContact = "@vpnbot_sandbox_support"
)

const (
	// readyTimeout bounds the wait for one service to report ready (or the
	// migrate job to finish): long enough for a cold start on a busy machine,
	// short enough that a service that will never be ready fails the start.
	readyTimeout = 60 * time.Second
	// stopGrace is how long a service gets to shut down after SIGTERM
	// before it is killed; above the services' own drain timeouts (10 s).
	stopGrace = 15 * time.Second
	// pollInterval paces the readiness and webhook polls.
	pollInterval = 50 * time.Millisecond
	// probeTimeout bounds one HTTP probe of a service or the sandbox.
	probeTimeout = 2 * time.Second
)

// Binaries lists the services a Stack runs, for procs.Build when a caller
// builds them once for several stacks (Config.Prebuilt).
func Binaries() []string {
	return []string{Migrate, Gateway, BotHandler, Sender, Activation, PaymentWatcher, Reminders, TrialNotifier, ExpiryCleanup}
}

// Config describes the system to start. Zero values take the defaults in the
// field comments.
type Config struct {
	// Dir is the state directory (required): NATS keeps its store in
	// Dir/nats, so a restart on the same Dir keeps streams and messages.
	Dir string
	// BinDir holds the service binaries (default Dir/bin). Start builds them
	// there unless Prebuilt.
	BinDir string
	// Prebuilt says the binaries are already in BinDir, e.g. built once in a
	// test binary's TestMain.
	Prebuilt bool
	// Root is the repository root to build from (default: the folder
	// holding go.work above the working directory).
	Root string
	// DatabaseURL is the PostgreSQL database; the migrate job brings its
	// schema up to date first (a no-op when it already is).
	DatabaseURL string
	// NATSPort is the embedded NATS client port (default: a free port).
	NATSPort int
	// SandboxAddr is where the fake Telegram listens (default 127.0.0.1:0).
	SandboxAddr string
	// CryptoPayAddr is where the fake Crypto Pay listens (default
	// 127.0.0.1:0); its pay pages are served there too.
	CryptoPayAddr string
	// OutlineAddr is where the fake Outline panel listens, over TLS
	// (default 127.0.0.1:0).
	OutlineAddr string
	// GatewayAddr is the gateway's webhook address (default: a free
	// 127.0.0.1 port).
	GatewayAddr string
	// Workers starts the five background workers too (activation and
	// expiry-cleanup against the Outline sandbox, payment-watcher against
	// the Crypto Pay sandbox, reminders, trial-notifier). Tests that play a
	// worker's part themselves leave it off.
	Workers bool
	// BotHandlers is the number of bot-handler replicas (default 1).
	BotHandlers int
	// Token is the bot token (default DefaultToken).
	Token string
	// CryptoPayToken is the Crypto Pay API token the sandbox accepts and the
	// bot-handler is given (default DefaultCryptoPayToken).
	CryptoPayToken string
	// AdminIDs are the Telegram users the bot-handler treats as admins
	// (default none).
	AdminIDs []int64
	// SupportContact is the contact the bot gives users (default
	// DefaultSupportContact).
	SupportContact string
	// WebhookSecret is the webhook's secret token (default: random).
	WebhookSecret string
	// FirstUpdateID is the sandbox Telegram's first update id (default 1);
	// make run, whose database outlives the sandbox, starts from the clock.
	FirstUpdateID int64
	// GlobalRate and ChatRate are the sandbox's flood limits in sending
	// calls per second (0 = the sandbox's defaults, -1 = unlimited).
	GlobalRate, ChatRate float64
	// TelegramAPIURL is a Bot API to use instead of the sandbox Telegram,
	// such as https://api.telegram.org with a real bot's Token; the Stack
	// then starts no sandbox Telegram and Sandbox is nil.
	TelegramAPIURL string
	// WebhookPublicURL is how the Bot API at TelegramAPIURL reaches the
	// gateway (which listens on GatewayAddr); without it the gateway
	// long-polls getUpdates instead (GATEWAY_MODE=poll). The sandbox
	// Telegram always delivers to the gateway's own address.
	WebhookPublicURL string
	// CryptoPayAPIURL is a Crypto Pay API to use, with CryptoPayToken,
	// instead of the sandbox; the Stack then starts no sandbox Crypto Pay and
	// CryptoPay is nil.
	CryptoPayAPIURL string
	// PanelEnv is the VPN panel's environment for activation and
	// expiry-cleanup (VPN_PANEL, OUTLINE_API_URL, REMNAWAVE_URL… of
	// pkg/vpn) instead of the sandbox Outline; the Stack then starts no
	// sandbox Outline and Outline is nil.
	PanelEnv []string
	// OpsPort, when set, is the first of a block of ports for the services'
	// ops endpoints, at the offsets of opsOffset, so that they stay the same
	// across runs; 0 takes a free port for each.
	OpsPort int
	// Env is added to every service's environment, after the Stack's own
	// settings, so it may override them (e.g. "HANDLER_TIMEOUT=2s").
	Env []string
	// Output receives every service's output, each line prefixed with the
	// service's name (default os.Stdout).
	Output io.Writer
	// Log receives the Stack's and the sandbox's own logs.
	Log zerolog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("stack: Config.Dir is required")
	}
	if c.DatabaseURL == "" {
		return c, errors.New("stack: Config.DatabaseURL is required")
	}
	if c.BinDir == "" {
		c.BinDir = filepath.Join(c.Dir, "bin")
	}
	if c.SandboxAddr == "" {
		c.SandboxAddr = DefaultSandboxAddr
	}
	if c.GatewayAddr == "" {
		addr, err := FreeAddr()
		if err != nil {
			return c, err
		}
		c.GatewayAddr = addr
	}
	if c.BotHandlers <= 0 {
		c.BotHandlers = 1
	}
	if c.Token == "" {
		c.Token = DefaultToken
	}
	if c.CryptoPayAddr == "" {
		c.CryptoPayAddr = DefaultSandboxAddr
	}
	if c.OutlineAddr == "" {
		c.OutlineAddr = DefaultSandboxAddr
	}
	if c.CryptoPayToken == "" {
		c.CryptoPayToken = DefaultCryptoPayToken
	}
	if c.SupportContact == "" {
		c.SupportContact = DefaultSupportContact
	}
	if c.WebhookSecret == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return c, fmt.Errorf("stack: generating the webhook secret: %w", err)
		}
		c.WebhookSecret = hex.EncodeToString(b) // within Telegram's alphabet
	}
	if c.Output == nil {
		c.Output = os.Stdout
	}
	return c, nil
}

// Stack is a running system. Its methods may be called from several
// goroutines.
type Stack struct {
	// Sandbox is the fake Telegram: fake users write to the bot through it,
	// and it records what the bot sent. Nil with Config.TelegramAPIURL.
	Sandbox *sandboxtg.Server
	// CryptoPay is the fake Crypto Pay the bot-handler makes invoices with
	// (CRYPTOPAY_API_URL); tests pay them with MarkPaid. It sends no
	// webhook until SetWebhook. Nil with Config.CryptoPayAPIURL.
	CryptoPay *sandboxcp.Server
	// Outline is the fake Outline panel (APIURL, CertSHA256) for whoever
	// activates VPN access. Nil with Config.PanelEnv.
	Outline *sandboxoutline.Server
	// NATSURL is the embedded broker's client URL; it stays the same across
	// StopNATS and StartNATS.
	NATSURL string
	// GatewayURL is the gateway's base URL, e.g. http://127.0.0.1:PORT.
	GatewayURL string
	// WebhookURL is where the sandbox delivers updates:
	// GatewayURL + /telegram/webhook.
	WebhookURL string
	// WebhookSecret is the secret the gateway expects in the
	// X-Telegram-Bot-Api-Secret-Token header.
	WebhookSecret string

	cfg      Config
	log      zerolog.Logger
	natsDir  string
	natsPort int
	http     *http.Client

	mu       sync.Mutex
	closed   bool
	nats     *server.Server // nil while stopped
	gateway  *service
	sender   *service
	workers  []*service
	handlers []*service
}

// service is one long-running service process and what it takes to start it
// again the same way.
type service struct {
	name    string // binary
	label   string // output prefix, e.g. bot-handler-1
	opsAddr string
	env     []string
	proc    *procs.Proc // nil while not running
}

// Start starts the system and returns once every service is ready; see the
// package documentation for the order. On error, whatever was started is
// stopped again.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Stack{
		cfg:           cfg,
		log:           cfg.Log.With().Str("component", "stack").Logger(),
		natsDir:       filepath.Join(cfg.Dir, "nats"),
		http:          &http.Client{Timeout: probeTimeout, Transport: &http.Transport{}},
		WebhookSecret: cfg.WebhookSecret,
	}
	defer func() {
		if err != nil {
			if cerr := s.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("stopping what had started: %w", cerr))
			}
		}
	}()

	port := cfg.NATSPort
	if port == 0 {
		port = -1 // natsembed's "any free port"
	}
	srv, err := natsembed.Start(natsembed.Options{Port: port, StoreDir: s.natsDir})
	if err != nil {
		return nil, fmt.Errorf("starting NATS: %w", err)
	}
	s.nats = srv
	// StartNATS must come back on the same port so that clients reconnect.
	s.natsPort = srv.Addr().(*net.TCPAddr).Port
	s.NATSURL = srv.ClientURL()

	if err := s.startSandboxes(); err != nil {
		return nil, err
	}

	if !cfg.Prebuilt {
		if err := s.build(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}

	s.GatewayURL = "http://" + dialable(cfg.GatewayAddr)
	s.WebhookURL = s.GatewayURL + "/telegram/webhook"
	gwOps, err := s.opsAddr(Gateway)
	if err != nil {
		return nil, err
	}
	s.gateway = &service{name: Gateway, label: Gateway, opsAddr: gwOps, env: s.env(append([]string{
		"INSTANCE=" + Gateway,
		"OPS_ADDR=" + gwOps,
		"HTTP_ADDR=" + cfg.GatewayAddr,
		"TELEGRAM_WEBHOOK_SECRET=" + cfg.WebhookSecret,
		"CRYPTOPAY_TOKEN=" + cfg.CryptoPayToken,
	}, s.receiveEnv()...)...)}
	if err := s.run(ctx, s.gateway); err != nil {
		return nil, err
	}
	if s.Sandbox != nil {
		if err := s.waitWebhook(ctx); err != nil {
			return nil, err
		}
	}

	for i := range cfg.BotHandlers {
		if err := s.startBotHandler(ctx, i); err != nil {
			return nil, err
		}
	}
	senderOps, err := s.opsAddr(Sender)
	if err != nil {
		return nil, err
	}
	s.sender = &service{name: Sender, label: Sender, opsAddr: senderOps, env: s.env(
		"INSTANCE="+Sender,
		"OPS_ADDR="+senderOps,
	)}
	if err := s.run(ctx, s.sender); err != nil {
		return nil, err
	}
	if cfg.Workers {
		if err := s.startWorkers(ctx); err != nil {
			return nil, err
		}
	}
	s.log.Info().Str("nats", s.NATSURL).Str("telegram", s.telegramURL()).Str("gateway", s.GatewayURL).
		Str("cryptopay", s.cryptoPayURL()).Int("bot_handlers", cfg.BotHandlers).Msg("stack ready")
	return s, nil
}

// startSandboxes starts the sandbox Telegram, Crypto Pay and Outline, each
// unless Config names the real one to use instead.
func (s *Stack) startSandboxes() error {
	cfg := s.cfg
	if cfg.TelegramAPIURL == "" {
		s.Sandbox = sandboxtg.New(sandboxtg.Config{
			Token:         cfg.Token,
			FirstUpdateID: cfg.FirstUpdateID,
			GlobalRate:    cfg.GlobalRate,
			ChatRate:      cfg.ChatRate,
			Log:           cfg.Log,
		})
		if err := s.Sandbox.Start(cfg.SandboxAddr); err != nil {
			return err
		}
	}
	if cfg.CryptoPayAPIURL == "" {
		s.CryptoPay = sandboxcp.New(sandboxcp.Config{Token: cfg.CryptoPayToken, Log: cfg.Log})
		if err := s.CryptoPay.Start(cfg.CryptoPayAddr); err != nil {
			return err
		}
	}
	if len(cfg.PanelEnv) == 0 {
		var err error
		s.Outline, err = sandboxoutline.New(sandboxoutline.Config{Log: cfg.Log})
		if err != nil {
			return fmt.Errorf("starting the outline sandbox: %w", err)
		}
		if err := s.Outline.Start(cfg.OutlineAddr); err != nil {
			return err
		}
	}
	return nil
}

// telegramURL is the Bot API the services call: the sandbox's or Config's.
func (s *Stack) telegramURL() string {
	if s.Sandbox != nil {
		return s.Sandbox.URL()
	}
	return s.cfg.TelegramAPIURL
}

// cryptoPayURL is the Crypto Pay API the services call: the sandbox's or Config's.
func (s *Stack) cryptoPayURL() string {
	if s.CryptoPay != nil {
		return s.CryptoPay.URL()
	}
	return s.cfg.CryptoPayAPIURL
}

// receiveEnv is how the gateway receives updates: the sandbox delivers to its
// own address; a real Bot API to WebhookPublicURL, or the gateway polls.
func (s *Stack) receiveEnv() []string {
	switch {
	case s.Sandbox != nil:
		return []string{"GATEWAY_MODE=webhook", "WEBHOOK_PUBLIC_URL=" + s.GatewayURL}
	case s.cfg.WebhookPublicURL != "":
		return []string{"GATEWAY_MODE=webhook", "WEBHOOK_PUBLIC_URL=" + s.cfg.WebhookPublicURL}
	default:
		return []string{"GATEWAY_MODE=poll", "WEBHOOK_PUBLIC_URL="}
	}
}

// opsOffset places each service's ops endpoint in the block at
// Config.OpsPort; bot-handler replica i takes opsOffset[BotHandler]+i.
var opsOffset = map[string]int{
	Gateway: 0, Sender: 1, Activation: 2, PaymentWatcher: 3, Reminders: 4, TrialNotifier: 5, ExpiryCleanup: 6,
	BotHandler: 10,
}

// opsAddr is the ops address for the service labelled label (bot-handler-N
// for a replica): in the block at Config.OpsPort, or a free port.
func (s *Stack) opsAddr(label string) (string, error) {
	if s.cfg.OpsPort == 0 {
		return FreeAddr()
	}
	offset, ok := opsOffset[label]
	if i, found := strings.CutPrefix(label, BotHandler+"-"); found {
		n, err := strconv.Atoi(i)
		if err != nil {
			return "", fmt.Errorf("ops port of %s: %w", label, err)
		}
		offset, ok = opsOffset[BotHandler]+n, true
	}
	if !ok {
		return "", fmt.Errorf("ops port of %s: unknown service", label)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.OpsPort+offset)), nil
}

// startWorkers starts the background workers, each its own process.
func (s *Stack) startWorkers(ctx context.Context) error {
	panel := s.cfg.PanelEnv
	if s.Outline != nil {
		panel = []string{
			"VPN_PANEL=outline",
			"OUTLINE_API_URL=" + s.Outline.APIURL(),
			"OUTLINE_CERT_SHA256=" + s.Outline.CertSHA256(),
		}
	}
	workers := []struct {
		name string
		env  []string
	}{
		{Activation, append([]string{"WORKER_INTERVAL=5s"}, panel...)},
		{PaymentWatcher, []string{
			"CRYPTOPAY_TOKEN=" + s.cfg.CryptoPayToken,
			"CRYPTOPAY_API_URL=" + s.cryptoPayURL(),
			"WORKER_INTERVAL=10s",
		}},
		{Reminders, []string{"WORKER_INTERVAL=30s"}},
		{TrialNotifier, []string{"WORKER_INTERVAL=30s"}},
		{ExpiryCleanup, append([]string{"WORKER_INTERVAL=30s"}, panel...)},
	}
	// Crypto Pay reports paid invoices to the gateway, as in production (a
	// real Crypto Pay app has its webhook URL set in @CryptoBot).
	if s.CryptoPay != nil {
		s.CryptoPay.SetWebhook(s.GatewayURL + "/cryptopay/webhook")
	}
	for _, w := range workers {
		ops, err := s.opsAddr(w.name)
		if err != nil {
			return err
		}
		svc := &service{name: w.name, label: w.name, opsAddr: ops,
			env: s.env(append([]string{"INSTANCE=" + w.name, "OPS_ADDR=" + ops}, w.env...)...)}
		s.mu.Lock()
		s.workers = append(s.workers, svc)
		s.mu.Unlock()
		if err := s.run(ctx, svc); err != nil {
			return err
		}
	}
	return nil
}

// env is the environment every service gets, then the service's own
// settings, then Config.Env (a later entry wins).
func (s *Stack) env(own ...string) []string {
	env := []string{
		"NATS_URL=" + s.NATSURL,
		"DATABASE_URL=" + s.cfg.DatabaseURL,
		"TELEGRAM_BOT_TOKEN=" + s.cfg.Token,
		"TELEGRAM_API_URL=" + s.telegramURL(),
	}
	env = append(env, own...)
	return append(env, s.cfg.Env...)
}

func (s *Stack) build(ctx context.Context) error {
	root := s.cfg.Root
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("finding the repository to build: %w", err)
		}
		if root, err = procs.Root(wd); err != nil {
			return fmt.Errorf("finding the repository to build: %w", err)
		}
	}
	start := time.Now()
	if err := procs.Build(ctx, root, s.cfg.BinDir, Binaries()...); err != nil {
		return err
	}
	s.log.Info().Dur("took", time.Since(start)).Str("bin_dir", s.cfg.BinDir).Msg("services built")
	return nil
}

// migrate runs the migrate job to completion; its output is in the error when
// it fails.
func (s *Stack) migrate(ctx context.Context) error {
	var out bytes.Buffer
	p, err := procs.Start(Migrate, filepath.Join(s.cfg.BinDir, Migrate),
		s.env("INSTANCE="+Migrate), io.MultiWriter(s.cfg.Output, &out))
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := p.Wait(wctx); err != nil {
		if ctx.Err() == nil && wctx.Err() == nil {
			// Output is complete once the process is done.
			return fmt.Errorf("migrating the database: %w\n%s", err, out.String())
		}
		p.Kill()
		return fmt.Errorf("migrating the database: not done within %s: %w\n%s", readyTimeout, err, out.String())
	}
	return nil
}

// run starts svc and waits until its /readyz answers 200.
func (s *Stack) run(ctx context.Context, svc *service) error {
	p, err := procs.Start(svc.label, filepath.Join(s.cfg.BinDir, svc.name), svc.env, s.cfg.Output)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		p.Kill()
		return fmt.Errorf("starting %s: the stack is closed", svc.label)
	}
	svc.proc = p
	s.mu.Unlock()
	if err := s.waitReady(ctx, svc.label, svc.opsAddr, p); err != nil {
		return err
	}
	s.log.Info().Str("service", svc.label).Int("pid", p.Pid()).Str("ops", "http://"+svc.opsAddr).Msg("service ready")
	return nil
}

// waitReady polls the service's /readyz until it answers 200, the process
// exits, or readyTimeout passes.
func (s *Stack) waitReady(ctx context.Context, label, opsAddr string, p *procs.Proc) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	url := "http://" + opsAddr + "/readyz"
	last := "no answer yet"
	for {
		status, body, err := s.get(ctx, url)
		switch {
		case err != nil:
			last = err.Error()
		case status == http.StatusOK:
			return nil
		default:
			last = fmt.Sprintf("%d %s", status, bytes.TrimSpace(body))
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited before it was ready: %v", label, p.Err())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (%s): %w", label, last, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// waitWebhook waits until the sandbox delivers to the gateway, which the
// gateway asks for at start (setWebhook), as it would ask Telegram.
func (s *Stack) waitWebhook(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		url, err := webhookURL(ctx, s.http, s.Sandbox.URL(), s.cfg.Token)
		if err == nil && url == s.WebhookURL {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the gateway did not register its webhook %s with the sandbox (have %q, %v): %w",
				s.WebhookURL, url, err, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

func (s *Stack) get(ctx context.Context, url string) (status int, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, body, err
}

// StopNATS shuts the broker down, as an outage would look to the services.
// Stopping a stopped broker does nothing.
func (s *Stack) StopNATS() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopNATSLocked()
}

func (s *Stack) stopNATSLocked() {
	if s.nats == nil {
		return
	}
	s.nats.Shutdown()
	s.nats.WaitForShutdown()
	s.nats = nil
	s.log.Info().Msg("NATS stopped")
}

// StartNATS starts a stopped broker again on the same port and store, so
// streams, consumers and stored messages survive and clients reconnect.
func (s *Stack) StartNATS() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("starting NATS: the stack is closed")
	}
	if s.nats != nil {
		return errors.New("starting NATS: already running")
	}
	srv, err := natsembed.Start(natsembed.Options{Port: s.natsPort, StoreDir: s.natsDir})
	if err != nil {
		return fmt.Errorf("starting NATS again on port %d: %w", s.natsPort, err)
	}
	s.nats = srv
	s.log.Info().Msg("NATS started again")
	return nil
}

// Kill kills a service's process with SIGKILL, as a crash or an OOM kill
// would, and waits for it to be gone: Gateway, Sender or a worker by name
// (replica ignored), or a BotHandler replica. Start starts it again.
func (s *Stack) Kill(service string, replica int) error {
	p, err := s.take(service, replica)
	if err != nil {
		return fmt.Errorf("killing %s: %w", service, err)
	}
	p.Kill()
	s.log.Info().Str("service", service).Int("replica", replica).Msg("service killed")
	return nil
}

// Stop stops a service gracefully (SIGTERM, then SIGKILL after the grace
// period) and reports whether it stopped cleanly.
func (s *Stack) Stop(service string, replica int) error {
	p, err := s.take(service, replica)
	if err != nil {
		return fmt.Errorf("stopping %s: %w", service, err)
	}
	return p.Stop(stopGrace)
}

// Start starts a killed or stopped service again, with its former ops
// address, and waits until it is ready. For BotHandler, replica may also be
// the number of replicas so far, which adds one.
func (s *Stack) Start(service string, replica int) error {
	if service == BotHandler {
		return s.startBotHandler(context.Background(), replica)
	}
	s.mu.Lock()
	svc := s.lookup(service, replica)
	var running bool
	if svc != nil {
		running = svc.proc != nil
	}
	s.mu.Unlock()
	switch {
	case svc == nil:
		return fmt.Errorf("starting %s: no such service in this stack", service)
	case running:
		return fmt.Errorf("starting %s: already running", service)
	}
	return s.run(context.Background(), svc)
}

// Running reports whether a service's process is running.
func (s *Stack) Running(service string, replica int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.lookup(service, replica)
	return svc != nil && svc.proc != nil
}

// ServiceID names one long-running service process of a Stack, as Kill,
// Start, Running and OpsURL take it.
type ServiceID struct {
	Name    string `json:"name"`    // e.g. Gateway or BotHandler
	Replica int    `json:"replica"` // the BotHandler replica; 0 for the others
	Label   string `json:"label"`   // its output prefix, e.g. bot-handler-0
}

// Services lists the long-running services in start order, running or not.
func (s *Stack) Services() []ServiceID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ServiceID
	add := func(svc *service, replica int) {
		if svc != nil {
			out = append(out, ServiceID{Name: svc.name, Replica: replica, Label: svc.label})
		}
	}
	add(s.gateway, 0)
	for i, h := range s.handlers {
		add(h, i)
	}
	add(s.sender, 0)
	for _, w := range s.workers {
		add(w, 0)
	}
	return out
}

// take detaches a running service's process, for the caller to end.
func (s *Stack) take(service string, replica int) (*procs.Proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.lookup(service, replica)
	switch {
	case svc == nil:
		return nil, errors.New("no such service in this stack")
	case svc.proc == nil:
		return nil, errors.New("not running")
	}
	p := svc.proc
	svc.proc = nil
	return p, nil
}

// lookup finds a service by name (and replica, for BotHandler); s.mu held.
func (s *Stack) lookup(service string, replica int) *service {
	switch service {
	case Gateway:
		return s.gateway
	case Sender:
		return s.sender
	case BotHandler:
		if replica >= 0 && replica < len(s.handlers) {
			return s.handlers[replica]
		}
		return nil
	}
	for _, w := range s.workers {
		if w.name == service {
			return w
		}
	}
	return nil
}

func (s *Stack) startBotHandler(ctx context.Context, i int) error {
	s.mu.Lock()
	switch {
	case i < 0 || i > len(s.handlers):
		s.mu.Unlock()
		return fmt.Errorf("starting bot-handler %d: there are %d replicas", i, len(s.handlers))
	case i < len(s.handlers) && s.handlers[i].proc != nil:
		s.mu.Unlock()
		return fmt.Errorf("starting bot-handler %d: already running", i)
	}
	if i == len(s.handlers) {
		s.handlers = append(s.handlers, nil)
	}
	svc := s.handlers[i]
	s.mu.Unlock()

	if svc == nil {
		label := BotHandler + "-" + strconv.Itoa(i)
		ops, err := s.opsAddr(label)
		if err != nil {
			return err
		}
		svc = &service{name: BotHandler, label: label, opsAddr: ops, env: s.env(
			"INSTANCE="+label,
			"OPS_ADDR="+ops,
			"CRYPTOPAY_TOKEN="+s.cfg.CryptoPayToken,
			"CRYPTOPAY_API_URL="+s.cryptoPayURL(),
			"ADMIN_IDS="+joinIDs(s.cfg.AdminIDs),
			"SUPPORT_CONTACT="+s.cfg.SupportContact,
		)}
		s.mu.Lock()
		s.handlers[i] = svc
		s.mu.Unlock()
	}
	return s.run(ctx, svc)
}

// OpsURL is the base URL of a service's ops endpoint (/livez, /readyz,
// /metrics): Gateway, Sender or a worker such as Activation (replica
// ignored), or a BotHandler replica. It is empty for an unknown service or
// replica.
func (s *Stack) OpsURL(service string, replica int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.lookup(service, replica); svc != nil {
		return "http://" + svc.opsAddr
	}
	return ""
}

// Close stops every service (SIGTERM, SIGKILL past a grace period), then the
// sandboxes, then NATS. It reports each service that did not stop cleanly: one
// that had exited on its own with an error, failed at shutdown, or had to be
// killed. Closing a closed stack does nothing.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var running []*procs.Proc
	for _, svc := range append(append([]*service{s.gateway, s.sender}, s.workers...), s.handlers...) {
		if svc != nil && svc.proc != nil {
			running = append(running, svc.proc)
			svc.proc = nil
		}
	}
	s.mu.Unlock()

	// A handler hanging on an injected fault would otherwise hold its
	// service's shutdown up to its own deadline.
	if s.Sandbox != nil {
		s.Sandbox.ClearFaults()
	}
	if s.CryptoPay != nil {
		s.CryptoPay.ClearFaults()
	}
	if s.Outline != nil {
		s.Outline.ClearFaults()
	}
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	for i, p := range running {
		wg.Go(func() { errs[i] = p.Stop(stopGrace) })
	}
	wg.Wait()

	if s.Sandbox != nil {
		s.Sandbox.Close()
	}
	if s.CryptoPay != nil {
		s.CryptoPay.Close()
	}
	if s.Outline != nil {
		s.Outline.Close()
	}
	s.mu.Lock()
	s.stopNATSLocked()
	s.mu.Unlock()
	s.http.CloseIdleConnections()
	return errors.Join(errs...)
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago: it listens on port 0, takes the port and closes.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	return addr, nil
}

// joinIDs renders ids as an environment list: 1,2,3.
func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

// dialable turns a listen address into one to connect to: a missing or
// unspecified host becomes 127.0.0.1.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
