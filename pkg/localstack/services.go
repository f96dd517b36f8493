package localstack

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// Names of the services a Stack runs, as built from services/<name> and as
// Kill, Start, OpsURL and Metrics take them.
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
	// KeyServer answers Outline's dynamic keys.
	KeyServer = "keyserver"
	// WebApp is the user's cabinet (the Mini App).
	WebApp  = "webapp"
	Migrate = "migrate"
)

// spec is one service of the system: how the Stack starts it, where its ops
// endpoint is, and the settings it needs from the Stack.
type spec struct {
	// name is the binary built from services/<name>, and the name Kill,
	// Start and OpsURL take.
	name string
	// job runs to completion before the next service starts (a deployment
	// runs migrate as a Job first too); it has no ops endpoint and is not
	// started again.
	job bool
	// opsOffset places the ops endpoint in the block at Config.OpsPort, so
	// that make run's ports stay the same across runs; replica i takes
	// opsOffset+i, hence the gap after the single services.
	opsOffset int
	// scaled marks the service whose replicas Config.BotHandlers counts:
	// its processes are always labelled <name>-<replica>, and Stack.Start
	// can add one. Another service runs Config.Replicas of it, labelled so
	// only when there are several.
	scaled bool
	// worker runs only with Config.Workers: tests that play a worker's part
	// themselves must not race a real one.
	worker bool
	// envFunc is the service's own settings, after the ones every service
	// gets (environ).
	envFunc func(*Stack) []string
	// startedFunc is what Start waits for once the service is ready, before
	// it starts the next one.
	startedFunc func(*Stack, context.Context) error
}

// services is the system in start order, the order of a deployment: the
// schema first, then the gateway, which the sandbox Telegram must know
// before any update can arrive, then whoever consumes what it publishes,
// then the workers.
var services = []spec{
	// Migrate leaves the roles alone: every service here logs in as the
	// developer's own user, and that user may not create roles.
	{name: Migrate, job: true, envFunc: func(*Stack) []string { return []string{"DB_ROLES=false"} }},
	{name: Gateway, opsOffset: 0, envFunc: (*Stack).gatewayEnv, startedFunc: (*Stack).waitWebhook},
	{name: BotHandler, opsOffset: 10, scaled: true, envFunc: (*Stack).botHandlerEnv},
	{name: Sender, opsOffset: 1, envFunc: (*Stack).paceEnv},
	{name: KeyServer, opsOffset: 7, envFunc: (*Stack).keyServerEnv},
	{name: WebApp, opsOffset: 8, envFunc: (*Stack).webAppEnv},
	// Shorter intervals than the services' defaults (15 s to a minute), so
	// that what a person does in make run shows within seconds.
	{name: Activation, opsOffset: 2, worker: true, envFunc: every(5*time.Second, (*Stack).panelEnv, (*Stack).appEnv)},
	{name: PaymentWatcher, opsOffset: 3, worker: true, envFunc: every(10*time.Second, (*Stack).cryptoPayEnv)},
	{name: Reminders, opsOffset: 4, worker: true, envFunc: every(30 * time.Second)},
	{name: TrialNotifier, opsOffset: 5, worker: true, envFunc: every(30 * time.Second)},
	{name: ExpiryCleanup, opsOffset: 6, worker: true, envFunc: every(30*time.Second, (*Stack).panelEnv)},
}

// specOf finds a service of the table by name; nil when there is none.
func specOf(name string) *spec {
	for i := range services {
		if services[i].name == name {
			return &services[i]
		}
	}
	return nil
}

// Binaries lists the services a Stack runs, for procs.Build when a caller
// builds them once for several stacks (Config.Prebuilt).
func Binaries() []string {
	names := make([]string, len(services))
	for i, sp := range services {
		names[i] = sp.name
	}
	return names
}

// environ is a process's environment: what every process gets, then its
// service's own settings, then Config.Env, which may override both (a later
// entry wins). opsAddr is empty for a job, which serves no ops endpoint.
func (s *Stack) environ(sp *spec, instance, opsAddr string) []string {
	env := config.Environ(config.Base{Instance: instance, OpsAddr: opsAddr, NATSURL: s.NATSURL, StreamReplicas: s.cfg.StreamReplicas})
	env = append(env, config.Environ(config.DB{DatabaseURL: s.cfg.DatabaseURL})...)
	env = append(env, config.Environ(telegram.Settings{Token: s.cfg.Token, APIURL: s.telegramURL()})...)
	if s.Traces != nil {
		// Spans go to the Stack's own receiver, in half a second rather
		// than the SDK's five, so a newcomer's trace shows at once.
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+s.tracesURL, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_BSP_SCHEDULE_DELAY=500")
	}
	if sp.envFunc != nil {
		env = append(env, sp.envFunc(s)...)
	}
	return append(env, s.cfg.Env...)
}

// unpaced is the per-chat rate and burst of a budget that never makes a send
// wait, for a sandbox without a per-chat limit.
const unpaced = 10000

// paceEnv is the budget the sending services share, matched to the
// sandbox's limits: no wait where it has none, its rates where it has them
// (with the budget's default per-chat burst, one under the sandbox's, and a
// bot-wide burst under its own). A real Bot API, or the sandbox's defaults,
// get the budget's defaults, made for Telegram's limits.
func (s *Stack) paceEnv() []string {
	p := chatpace.DefaultSettings()
	if s.cfg.TelegramAPIURL != "" {
		return config.Environ(p)
	}
	switch {
	case s.cfg.ChatRate < 0:
		p.Rate, p.Burst = unpaced, unpaced
		p.GroupPerMinute, p.GroupBurst = 60*unpaced, unpaced
	case s.cfg.ChatRate > 0:
		p.Rate = s.cfg.ChatRate
	}
	switch {
	case s.cfg.GlobalRate < 0:
		p.BotRate, p.BotBurst = unpaced, unpaced
	case s.cfg.GlobalRate > 0:
		p.BotRate, p.BotBurst = s.cfg.GlobalRate, max(1, int(s.cfg.GlobalRate)*2/3)
	}
	return config.Environ(p)
}

// gatewayEnv: where the gateway listens and how it receives updates — the
// sandbox delivers to its own address; a real Bot API to
// Config.WebhookPublicURL, or the gateway polls. Of Crypto Pay it reads only
// the token, to check the webhooks' signatures.
func (s *Stack) gatewayEnv() []string {
	env := append([]string{
		"HTTP_ADDR=" + s.cfg.GatewayAddr,
		"TELEGRAM_WEBHOOK_SECRET=" + s.cfg.WebhookSecret,
	}, s.cryptoPayEnv()...)
	switch {
	case s.Sandbox != nil:
		return append(env, "GATEWAY_MODE=webhook", "WEBHOOK_PUBLIC_URL="+s.GatewayURL)
	case s.cfg.WebhookPublicURL != "":
		return append(env, "GATEWAY_MODE=webhook", "WEBHOOK_PUBLIC_URL="+s.cfg.WebhookPublicURL)
	default:
		return append(env, "GATEWAY_MODE=poll", "WEBHOOK_PUBLIC_URL=")
	}
}

// botHandlerEnv: the bot makes invoices with Crypto Pay, knows its admins
// and support contact, and opens the cabinet.
func (s *Stack) botHandlerEnv() []string {
	ids := make([]string, len(s.cfg.AdminIDs))
	for i, id := range s.cfg.AdminIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return slices.Concat(s.cryptoPayEnv(), s.paceEnv(), s.appEnv(), []string{
		"ADMIN_IDS=" + strings.Join(ids, ","),
		"SUPPORT_CONTACT=" + s.cfg.SupportContact,
	})
}

// appEnv is the cabinet the bot's buttons open (WEBAPP_URL): the Stack's,
// with the sandbox, whose chat opens it in a frame; real Telegram opens
// only an https app, which the Stack does not serve (Config.Env can set
// it, for a proxy in front).
func (s *Stack) appEnv() []string {
	if s.Sandbox == nil {
		return nil
	}
	return []string{"WEBAPP_URL=" + s.WebAppURL + "/"}
}

// keyServerEnv: where the key server listens. Activation is not told
// KEYSERVER_URL: an Outline client fetches a dynamic key over https only,
// which the Stack does not serve (Config.Env can set it, for a proxy in
// front).
func (s *Stack) keyServerEnv() []string {
	return []string{"HTTP_ADDR=" + s.cfg.KeyServerAddr}
}

// webAppEnv: where the cabinet listens, and the Crypto Pay its orders are
// made with, the bot's.
func (s *Stack) webAppEnv() []string {
	env := append([]string{"HTTP_ADDR=" + s.cfg.WebAppAddr}, s.cryptoPayEnv()...)
	if s.Sandbox != nil {
		// The sandbox chat, on another port of this machine, shows the app
		// in a frame as Telegram's clients do.
		env = append(env, "WEBAPP_FRAME_ANCESTORS=http://127.0.0.1:*,http://localhost:*")
	}
	return env
}

// cryptoPayEnv is the Crypto Pay a service calls and the token it calls
// with.
func (s *Stack) cryptoPayEnv() []string {
	return []string{"CRYPTOPAY_TOKEN=" + s.cfg.CryptoPayToken, "CRYPTOPAY_API_URL=" + s.cryptoPayURL()}
}

// panelEnv is the VPN panels activation and expiry-cleanup call: the
// sandbox Outline panels, or Config.PanelEnv. Failover is left at the
// services' default (on), which is what the second panel is there to show.
func (s *Stack) panelEnv() []string {
	if len(s.Panels) == 0 {
		return s.cfg.PanelEnv
	}
	specs := make(vpn.PanelList, len(s.Panels))
	for i, p := range s.Panels {
		specs[i] = vpn.PanelSpec{Name: p.Name, Kind: vpn.KindOutline, Location: p.Location, URL: p.APIURL(), CertSHA256: p.CertSHA256()}
	}
	return config.Environ(vpn.PanelEnv{Panels: specs})
}

// every is a worker's settings: its interval, then the rest of what it
// needs.
func every(interval time.Duration, more ...func(*Stack) []string) func(*Stack) []string {
	return func(s *Stack) []string {
		env := config.Environ(worker.Env{Interval: interval})
		for _, f := range more {
			env = append(env, f(s)...)
		}
		return env
	}
}
