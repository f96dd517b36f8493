package gateway

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// Modes of receiving updates (GATEWAY_MODE).
const (
	// ModeWebhook: Telegram posts updates to /telegram/webhook. Any number of
	// replicas may run.
	ModeWebhook = "webhook"
	// ModePoll: the gateway long-polls getUpdates. Telegram allows one
	// getUpdates consumer per bot, so this mode must run as a single replica.
	ModePoll = "poll"
)

// WebhookPath is where Telegram posts updates.
const WebhookPath = "/telegram/webhook"

// Config is the gateway's configuration, read from the environment.
type Config struct {
	config.Base
	// HTTPAddr serves the webhook (Telegram's side, not the ops port).
	HTTPAddr      string `env:"HTTP_ADDR"`
	Telegram      telegram.Settings
	WebhookSecret string `env:"TELEGRAM_WEBHOOK_SECRET" secret:"true"`
	// WebhookPublicURL is how Telegram reaches this service; when set, the
	// gateway registers the webhook at start. A URL without a path gets
	// WebhookPath appended.
	WebhookPublicURL string `env:"WEBHOOK_PUBLIC_URL"`
	Mode             string `env:"GATEWAY_MODE"`
	// Partitions must equal the bot-handler's: both map a chat to a partition.
	Partitions            int           `env:"UPDATE_PARTITIONS"`
	PublishTimeout        time.Duration `env:"PUBLISH_TIMEOUT"`
	WebhookMaxConnections int           `env:"WEBHOOK_MAX_CONNECTIONS"`
	// WebhookAllowedUpdates is sent with setWebhook, and with getUpdates in poll mode.
	WebhookAllowedUpdates []string `env:"WEBHOOK_ALLOWED_UPDATES" envSeparator:","`
	// WatchdogGrace is how long after start the gateway waits for its first
	// update before logging WATCHDOG_GRACE_END; 0 turns the warning off.
	WatchdogGrace time.Duration `env:"WATCHDOG_GRACE"`
	// CryptoPayToken is the Crypto Pay API token, which keys the webhook
	// signature; empty turns POST /cryptopay/webhook off.
	CryptoPayToken string `env:"CRYPTOPAY_TOKEN" secret:"true"`
}

// DefaultConfig returns the gateway's defaults, which the environment overlays.
func DefaultConfig() Config {
	return Config{
		Base:                  config.NewBase(":9101"),
		HTTPAddr:              ":8081",
		Telegram:              telegram.DefaultSettings(),
		Mode:                  ModeWebhook,
		Partitions:            telegram.DefaultPartitions,
		PublishTimeout:        5 * time.Second,
		WebhookMaxConnections: 40,
		WebhookAllowedUpdates: []string{"message", "edited_message", "callback_query", "pre_checkout_query", "my_chat_member"},
		WatchdogGrace:         60 * time.Second,
	}
}

// Validate reports a setting that cannot work. It also trims the entries of
// WEBHOOK_ALLOWED_UPDATES, which is why it has a pointer receiver.
func (c *Config) Validate() error {
	errs := []error{c.Telegram.Validate()}
	switch c.Mode {
	case ModeWebhook:
		if c.WebhookSecret == "" {
			errs = append(errs, errors.New("TELEGRAM_WEBHOOK_SECRET is required with GATEWAY_MODE=webhook"))
		}
	case ModePoll:
		if c.WebhookPublicURL != "" {
			errs = append(errs, errors.New("WEBHOOK_PUBLIC_URL is set but GATEWAY_MODE=poll deletes the webhook; unset one of them"))
		}
	default:
		errs = append(errs, fmt.Errorf("GATEWAY_MODE=%q: want %s or %s", c.Mode, ModeWebhook, ModePoll))
	}
	if c.WebhookSecret != "" && !validSecret(c.WebhookSecret) {
		// The value is a secret: say what is wrong with it, never what it is.
		errs = append(errs, fmt.Errorf("TELEGRAM_WEBHOOK_SECRET: %d characters; Telegram allows 1-256 of A-Z a-z 0-9 _ -", len(c.WebhookSecret)))
	}
	if c.WebhookPublicURL != "" {
		if err := checkHTTPURL(c.WebhookPublicURL); err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOK_PUBLIC_URL: %w", err))
		}
	}
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("HTTP_ADDR is empty"))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("UPDATE_PARTITIONS=%d: must be at least 1", c.Partitions))
	}
	if c.PublishTimeout <= 0 {
		errs = append(errs, fmt.Errorf("PUBLISH_TIMEOUT=%s: must be positive", c.PublishTimeout))
	}
	if c.WebhookMaxConnections < 1 || c.WebhookMaxConnections > 100 {
		errs = append(errs, fmt.Errorf("WEBHOOK_MAX_CONNECTIONS=%d: Telegram allows 1-100", c.WebhookMaxConnections))
	}
	if c.WatchdogGrace < 0 {
		errs = append(errs, fmt.Errorf("WATCHDOG_GRACE=%s: must not be negative", c.WatchdogGrace))
	}
	allowed := c.WebhookAllowedUpdates[:0:0]
	for _, u := range c.WebhookAllowedUpdates {
		if u = strings.TrimSpace(u); u != "" {
			allowed = append(allowed, u)
		}
	}
	c.WebhookAllowedUpdates = allowed
	return errors.Join(errs...)
}

// validSecret reports whether Telegram accepts s as a webhook secret_token:
// 1-256 characters of A-Z a-z 0-9 _ -.
func validSecret(s string) bool {
	if len(s) < 1 || len(s) > 256 {
		return false
	}
	for _, r := range s {
		ok := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want http(s)://host[/path]", s)
	}
	return nil
}

// WebhookURL is the URL given to setWebhook: WEBHOOK_PUBLIC_URL, with
// WebhookPath appended unless it already has a path of its own (as behind a
// proxy that maps some other path to this service).
func (c Config) WebhookURL() string {
	u, err := url.Parse(c.WebhookPublicURL)
	if err != nil || c.WebhookPublicURL == "" {
		return c.WebhookPublicURL
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = WebhookPath
		u.RawPath = ""
	}
	return u.String()
}
