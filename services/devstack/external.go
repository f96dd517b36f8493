package main

import (
	"cmp"
	"strings"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// defaultTelegramAPIURL is the Bot API a real bot token is used with.
const defaultTelegramAPIURL = "https://api.telegram.org"

// Real is what make run uses instead of a sandbox when it is configured,
// read from the environment variables the services themselves read.
type Real struct {
	// TelegramToken, when set, is a real bot's token: the services talk to
	// TelegramAPIURL instead of the sandbox Telegram.
	TelegramToken  string `env:"TELEGRAM_BOT_TOKEN" secret:"true"`
	TelegramAPIURL string `env:"TELEGRAM_API_URL"`
	// WebhookPublicURL is how Telegram reaches the gateway (through a tunnel
	// or proxy to GATEWAY_ADDR); without it the gateway polls.
	WebhookPublicURL string `env:"WEBHOOK_PUBLIC_URL"`
	// CryptoPayToken, when set, is a real Crypto Pay app's token, used with
	// CryptoPayAPIURL instead of the sandbox Crypto Pay.
	CryptoPayToken  string `env:"CRYPTOPAY_TOKEN" secret:"true"`
	CryptoPayAPIURL string `env:"CRYPTOPAY_API_URL"`
}

// apply points c at the real services configured, leaving the sandboxes in
// place of the others. environ is the devstack's environment, where a real
// VPN panel is configured as for activation and expiry-cleanup.
func (r Real) apply(c *localstack.Config, environ []string) {
	if r.TelegramToken != "" {
		c.Token = r.TelegramToken
		c.TelegramAPIURL = cmp.Or(r.TelegramAPIURL, defaultTelegramAPIURL)
		c.WebhookPublicURL = r.WebhookPublicURL
	}
	if r.CryptoPayToken != "" {
		c.CryptoPayToken = r.CryptoPayToken
		c.CryptoPayAPIURL = cmp.Or(r.CryptoPayAPIURL, cryptopay.DefaultBaseURL)
	}
	c.PanelEnv = panelEnv(environ)
}

// panelEnv returns the VPN panel settings of environ (the variables
// vpn.PanelEnv reads) when they name a panel, else nil for the sandbox
// Outline.
func panelEnv(environ []string) []string {
	names := config.Fields(vpn.PanelEnv{})
	var env []string
	configured := false
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if _, ok := names[name]; !ok {
			continue
		}
		env = append(env, kv)
		if value != "" && (name == "VPN_PANELS" || name == "VPN_PANEL" || name == "OUTLINE_API_URL" || name == "REMNAWAVE_URL") {
			configured = true
		}
	}
	if !configured {
		return nil
	}
	return env
}

// mode says in a few words which Telegram, Crypto Pay and panel a stack
// started with c uses, for the welcome text.
func mode(c localstack.Config) (telegram, cryptoPay, panel string) {
	telegram, cryptoPay, panel = "sandbox", "sandbox", "sandbox Outline panels"
	switch {
	case c.TelegramAPIURL != "" && c.WebhookPublicURL != "":
		telegram = c.TelegramAPIURL + ", webhook at " + c.WebhookPublicURL
	case c.TelegramAPIURL != "":
		telegram = c.TelegramAPIURL + ", polling"
	}
	if c.CryptoPayAPIURL != "" {
		cryptoPay = c.CryptoPayAPIURL
	}
	if panels := envValue(c.PanelEnv, "VPN_PANELS"); panels != "" {
		panel = panelNames(panels) + " (VPN_PANELS)"
	} else if len(c.PanelEnv) > 0 {
		panel = cmp.Or(envValue(c.PanelEnv, "VPN_PANEL"), "outline") + " (VPN_PANEL)"
	}
	return telegram, cryptoPay, panel
}

// panelNames lists the names and kinds of VPN_PANELS' panels, or says
// the list does not parse (the services will say why, and stop).
func panelNames(panels string) string {
	var list vpn.PanelList
	if err := list.UnmarshalText([]byte(panels)); err != nil {
		return "unreadable"
	}
	names := make([]string, len(list))
	for i, p := range list {
		names[i] = p.Name + " (" + p.Kind + ")"
	}
	return strings.Join(names, ", ")
}

// envValue is the value of name in env, or "".
func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}
