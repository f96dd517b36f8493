package localstack

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/freeport"
	"github.com/vpnbot/vpnbot/pkg/localstack/traces"
	"github.com/vpnbot/vpnbot/pkg/procs"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	sandboxoutline "github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/vpn"
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
	// DefaultPanels is how many sandbox Outline panels a Stack starts.
	DefaultPanels = 2
	// PanelLocation is the location of the sandbox panels, all one.
	PanelLocation = "local"
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
	// NATSPort is the embedded NATS client port (default: a free port); node
	// i of a cluster listens on NATSPort+i.
	NATSPort int
	// NATSNodes is how many embedded NATS servers run (default 1). More than
	// one form a cluster on 127.0.0.1, JetStream on each, whose nodes
	// StopNATSNode and StartNATSNode stop and start one at a time; the
	// services get every node's URL in NATS_URL. Three is what production
	// runs.
	NATSNodes int
	// NATSProcesses runs each NATS node as a process of its own, of
	// BinDir/natsnode (BuildNATSNode; Start builds it unless Prebuilt),
	// instead of inside the Stack's process, so that KillNATSNode can end
	// one with SIGKILL, as a crash would.
	NATSProcesses bool
	// StreamReplicas is STREAM_REPLICAS of every service: how many nodes
	// keep each stream (default NATSNodes, at most 5).
	StreamReplicas int
	// SandboxAddr is where the fake Telegram listens (default 127.0.0.1:0).
	SandboxAddr string
	// CryptoPayAddr is where the fake Crypto Pay listens (default
	// 127.0.0.1:0); its pay pages are served there too.
	CryptoPayAddr string
	// OutlineAddr is where the first fake Outline panel listens, over TLS
	// (default 127.0.0.1:0); the others listen on its host, each on a port
	// of its own.
	OutlineAddr string
	// Panels is how many fake Outline panels the workers place users on
	// (default 2): one location, equal weights, with failover, so that
	// while one is broken new users go to the other. Tests that read every
	// key from Stack.Outline ask for 1.
	Panels int
	// SandboxDir, when set, is where the sandbox Telegram, Crypto Pay and
	// Outline panels keep their state across restarts (SandboxDir/telegram:
	// chats, pending updates and ids; SandboxDir/cryptopay: invoices and
	// ids; SandboxDir/<panel name>: access keys, certificate, secret path
	// and API port), as the real services would; empty keeps them in
	// memory, as tests want. Pay links stay valid across restarts only if
	// CryptoPayAddr names a fixed port; each Outline panel takes its last
	// port again when OutlineAddr's is 0.
	SandboxDir string
	// GatewayAddr is the gateway's webhook address (default: a free
	// 127.0.0.1 port).
	GatewayAddr string
	// KeyServerAddr is where the key server answers dynamic keys (default:
	// a free 127.0.0.1 port).
	KeyServerAddr string
	// WebAppAddr is where the cabinet (the Mini App) is served (default: a
	// free 127.0.0.1 port).
	WebAppAddr string
	// Workers starts the five background workers too (activation and
	// expiry-cleanup against the Outline panels, payment-watcher against
	// the Crypto Pay sandbox, reminders, trial-notifier). Tests that play a
	// worker's part themselves leave it off.
	Workers bool
	// BotHandlers is the number of bot-handler replicas (default 1).
	BotHandlers int
	// Replicas is how many processes Start runs of the other long-running
	// services, by name (default 1), e.g. {Sender: 2}: a deployment runs
	// two of each for failover. Their processes are then labelled
	// <name>-<replica>. The gateway runs once: a second one would need a
	// load balancer in front of both, which the Stack does not have.
	Replicas map[string]int
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
	// FirstInvoiceID is the sandbox Crypto Pay's first invoice and update
	// id (default 1), for the same reason.
	FirstInvoiceID int64
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
	// PanelEnv is the VPN panels' environment for activation and
	// expiry-cleanup (VPN_PANELS, VPN_PANEL, OUTLINE_API_URL… of pkg/vpn)
	// instead of the sandbox Outline panels; the Stack then starts none,
	// and Outline and Panels are nil.
	PanelEnv []string
	// Traces has the services export their spans (OpenTelemetry, every
	// trace sampled) to the Stack's own receiver, Stack.Traces, which the
	// status page shows; off, tracing stays off as in a default deployment.
	Traces bool
	// OpsPort, when set, is the first of a block of ports for the services'
	// ops endpoints, each at its service's offset in the table of
	// services.go, so that they stay the same across runs; 0 takes a free
	// port for each.
	OpsPort int
	// Env is added to every service's environment, after the Stack's own
	// settings, so it may override them (e.g. "HANDLER_TIMEOUT=2s").
	Env []string
	// Output receives every service's output, each line prefixed with the
	// service's name as procs.FormatLine writes it (default os.Stdout).
	Output io.Writer
	// LogDir, when set, receives every service's output as well, whole
	// and as the service wrote it, one file per process named after its
	// label (OpenLog): gateway.log, bot-handler-0.log, sender-1.log. Each
	// Stack starts the files afresh, keeping the previous ones as .log.1;
	// a process started again appends to its own.
	LogDir string
	// Log receives the Stack's and the sandbox's own logs.
	Log zerolog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("localstack: Config.Dir is required")
	}
	if c.DatabaseURL == "" {
		return c, errors.New("localstack: Config.DatabaseURL is required")
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
	if c.KeyServerAddr == "" {
		addr, err := FreeAddr()
		if err != nil {
			return c, err
		}
		c.KeyServerAddr = addr
	}
	if c.WebAppAddr == "" {
		addr, err := FreeAddr()
		if err != nil {
			return c, err
		}
		c.WebAppAddr = addr
	}
	if c.BotHandlers <= 0 {
		c.BotHandlers = 1
	}
	for name, n := range c.Replicas {
		if sp := specOf(name); sp == nil || sp.job || sp.scaled || name == Gateway || n < 1 {
			return c, fmt.Errorf("localstack: Config.Replicas[%q] = %d: only a worker or the sender runs a number of replicas (at least 1) set there", name, n)
		}
	}
	if c.NATSNodes <= 0 {
		c.NATSNodes = 1
	}
	if c.StreamReplicas <= 0 {
		c.StreamReplicas = min(c.NATSNodes, config.MaxStreamReplicas)
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
	if c.Panels <= 0 {
		c.Panels = DefaultPanels
	}
	if c.CryptoPayToken == "" {
		c.CryptoPayToken = DefaultCryptoPayToken
	}
	if c.SupportContact == "" {
		c.SupportContact = DefaultSupportContact
	}
	if c.WebhookSecret == "" {
		b := make([]byte, 16)
		if _, err := crand.Read(b); err != nil {
			return c, fmt.Errorf("localstack: generating the webhook secret: %w", err)
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
	// (CRYPTOPAY_API_URL); tests pay them with MarkPaid. With
	// Config.Workers it reports paid invoices to the gateway's webhook;
	// without, it sends none until SetWebhook. Nil with
	// Config.CryptoPayAPIURL.
	CryptoPay *sandboxcp.Server
	// Outline is the first fake Outline panel (APIURL, CertSHA256), the
	// only one with Config.Panels = 1. Nil with Config.PanelEnv.
	Outline *sandboxoutline.Server
	// Panels are the fake Outline panels activation and expiry-cleanup
	// place users on, Outline first. Nil with Config.PanelEnv.
	Panels []SandboxPanel
	// NATSURL is the embedded broker's client URL, or its nodes' URLs,
	// comma-separated, as NATS_URL takes them; it stays the same across
	// StopNATS and StartNATS, StopNATSNode and StartNATSNode.
	NATSURL string
	// GatewayURL is the gateway's base URL, e.g. http://127.0.0.1:PORT.
	GatewayURL string
	// KeyServerURL is the key server's base URL, e.g. http://127.0.0.1:PORT:
	// GET KeyServerURL/k/{token} answers a dynamic key.
	KeyServerURL string
	// WebAppURL is the cabinet's base URL, e.g. http://127.0.0.1:PORT.
	WebAppURL string
	// WebhookURL is where the sandbox delivers updates:
	// GatewayURL + /telegram/webhook.
	WebhookURL string
	// WebhookSecret is the secret the gateway expects in the
	// X-Telegram-Bot-Api-Secret-Token header.
	WebhookSecret string
	// Traces are the latest traces the services exported, with
	// Config.Traces; nil without.
	Traces *traces.Store

	cfg       Config
	tracesURL string
	tracesSrv *http.Server
	log       zerolog.Logger
	natsDir   string
	http      *http.Client
	// nats is the broker, set once by Start; its nodes start and stop
	// under its own lock.
	nats *natsembed.Cluster

	mu     sync.Mutex
	closed bool
	// processes lists every long-running service process by service name,
	// replicas in order, running or not.
	processes map[string][]*process
	// exits lists the processes that ended on their own, in order.
	exits []Exit
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
		log:           cfg.Log.With().Str("component", "localstack").Logger(),
		natsDir:       filepath.Join(cfg.Dir, "nats"),
		http:          &http.Client{Timeout: probeTimeout, Transport: &http.Transport{}},
		GatewayURL:    "http://" + dialable(cfg.GatewayAddr),
		KeyServerURL:  "http://" + dialable(cfg.KeyServerAddr),
		WebAppURL:     "http://" + dialable(cfg.WebAppAddr),
		WebhookSecret: cfg.WebhookSecret,
		processes:     map[string][]*process{},
	}
	s.WebhookURL = s.GatewayURL + "/telegram/webhook"
	defer func() {
		if err != nil {
			if cerr := s.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("stopping what had started: %w", cerr))
			}
		}
	}()

	// Built first: the broker may be its processes.
	if !cfg.Prebuilt {
		if err := s.build(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.startNATS(); err != nil {
		return nil, err
	}
	if cfg.Traces {
		if err := s.startTraces(); err != nil {
			return nil, err
		}
	}
	if err := s.startSandboxes(); err != nil {
		return nil, err
	}
	for i := range services {
		if sp := &services[i]; !sp.worker || cfg.Workers {
			if err := s.launch(ctx, sp); err != nil {
				return nil, err
			}
		}
	}
	s.log.Info().Str("nats", s.NATSURL).Str("telegram", s.telegramURL()).Str("gateway", s.GatewayURL).
		Str("cryptopay", s.cryptoPayURL()).Int("bot_handlers", cfg.BotHandlers).Int("nats_nodes", cfg.NATSNodes).
		Int("stream_replicas", cfg.StreamReplicas).Msg("stack ready")
	return s, nil
}

// startTraces serves the OTLP/HTTP receiver the services export to, on a
// free port.
func (s *Stack) startTraces() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening for the services' traces: %w", err)
	}
	s.Traces = traces.New(0)
	mux := http.NewServeMux()
	mux.Handle("/v1/traces", s.Traces)
	s.tracesSrv = &http.Server{Handler: mux, ReadHeaderTimeout: probeTimeout}
	s.tracesURL = "http://" + ln.Addr().String()
	go func() {
		if err := s.tracesSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn().Err(err).Msg("the traces receiver stopped")
		}
	}()
	return nil
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
			StateDir:      s.sandboxDir("telegram"),
			Log:           cfg.Log,
		})
		if err := s.Sandbox.Start(cfg.SandboxAddr); err != nil {
			return err
		}
	}
	if cfg.CryptoPayAPIURL == "" {
		// With the workers, Crypto Pay reports paid invoices to the gateway,
		// as in production (a real Crypto Pay app has its webhook URL set in
		// @CryptoBot); without them a test plays the payment-watcher and
		// wants no events it did not ask for.
		var webhook string
		if cfg.Workers {
			webhook = s.GatewayURL + "/cryptopay/webhook"
		}
		s.CryptoPay = sandboxcp.New(sandboxcp.Config{
			Token: cfg.CryptoPayToken, WebhookURL: webhook, FirstID: cfg.FirstInvoiceID,
			StateDir: s.sandboxDir("cryptopay"), Log: cfg.Log,
		})
		if err := s.CryptoPay.Start(cfg.CryptoPayAddr); err != nil {
			return err
		}
	}
	if len(cfg.PanelEnv) == 0 {
		return s.startPanels()
	}
	return nil
}

// SandboxPanel is one fake Outline panel of the stack's fleet: the server,
// and the name and location VPN_PANELS gives it.
type SandboxPanel struct {
	*sandboxoutline.Server
	// Name is the panel's name in VPN_PANELS, which its accounts are
	// recorded under and its metrics labelled with.
	Name     string
	Location string
}

// panelName is the name of the i-th sandbox panel: the first keeps the
// single panel's name (its kind), so that the accounts a database already
// records on it stay its own.
func panelName(i int) string {
	if i == 0 {
		return vpn.KindOutline
	}
	return fmt.Sprintf("%s-%d", vpn.KindOutline, i+1)
}

// startPanels starts Config.Panels sandbox Outline panels, each keeping
// its state in a folder named after it.
func (s *Stack) startPanels() error {
	host, _, err := net.SplitHostPort(s.cfg.OutlineAddr)
	if err != nil {
		return fmt.Errorf("OutlineAddr %q: %w", s.cfg.OutlineAddr, err)
	}
	for i := range s.cfg.Panels {
		name := panelName(i)
		srv, err := sandboxoutline.New(sandboxoutline.Config{StateDir: s.sandboxDir(name), Log: s.cfg.Log})
		if err != nil {
			return fmt.Errorf("starting the outline sandbox %s: %w", name, err)
		}
		// Appended before it starts, so that Close closes it either way.
		s.Panels = append(s.Panels, SandboxPanel{Server: srv, Name: name, Location: PanelLocation})
		addr := s.cfg.OutlineAddr
		if i > 0 {
			addr = net.JoinHostPort(host, "0")
		}
		if err := srv.Start(addr); err != nil {
			return fmt.Errorf("starting the outline sandbox %s: %w", name, err)
		}
	}
	s.Outline = s.Panels[0].Server
	return nil
}

// sandboxDir is the state folder of the sandbox name, or "" without
// Config.SandboxDir.
func (s *Stack) sandboxDir(name string) string {
	if s.cfg.SandboxDir == "" {
		return ""
	}
	return filepath.Join(s.cfg.SandboxDir, name)
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

// build builds every binary of the table into Config.BinDir.
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
	if s.cfg.NATSProcesses {
		if err := BuildNATSNode(ctx, root, s.cfg.BinDir); err != nil {
			return err
		}
	}
	s.log.Info().Dur("took", time.Since(start)).Str("bin_dir", s.cfg.BinDir).Msg("services built")
	return nil
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
	running := s.detachAll()
	s.mu.Unlock()

	// A handler hanging on an injected fault would otherwise hold its
	// service's shutdown up to its own deadline.
	if s.Sandbox != nil {
		s.Sandbox.ClearFaults()
	}
	if s.CryptoPay != nil {
		s.CryptoPay.ClearFaults()
	}
	for _, p := range s.Panels {
		p.ClearFaults()
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
	for _, p := range s.Panels {
		p.Close()
	}
	if s.tracesSrv != nil {
		// After the services: their last spans are flushed at their stop.
		_ = s.tracesSrv.Close()
	}
	s.mu.Lock()
	errs = append(errs, s.stopNATSLocked(), s.closeLogs())
	s.mu.Unlock()
	s.http.CloseIdleConnections()
	return errors.Join(errs...)
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago and that this process has handed out to no other server (freeport).
func FreeAddr() (string, error) { return freeport.Addr() }

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
