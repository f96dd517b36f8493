package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/webappauth"
)

// Config is the web app's configuration, read once from the environment.
type Config struct {
	config.Base
	config.DB
	// Telegram's token signs what the app trusts (initData, Login Widget
	// data) and keys its sessions; the Bot API tells the bot's username
	// for invite links.
	Telegram telegram.Settings
	// HTTPAddr serves the app and its API (not the ops port).
	HTTPAddr string `env:"HTTP_ADDR"`
	// SessionTTL is how long a session cookie lets a user in before the
	// page must show Telegram's signature again.
	SessionTTL time.Duration `env:"SESSION_TTL"`
	// InitDataMaxAge is how old a signature from Telegram may be when it is
	// exchanged for a session.
	InitDataMaxAge time.Duration `env:"INIT_DATA_MAX_AGE"`
	// ClientIPHeader names the header the proxy in front puts the client's
	// address in (X-Real-IP); empty takes the connection's peer, which
	// behind a proxy is the proxy, so every user shares one per-IP limit.
	ClientIPHeader string `env:"CLIENT_IP_HEADER"`
	// IPRate and IPBurst limit the requests of one address, UserRate and
	// UserBurst those of one signed-in user, per second.
	IPRate    float64 `env:"RATE_PER_IP"`
	IPBurst   int     `env:"RATE_PER_IP_BURST"`
	UserRate  float64 `env:"RATE_PER_USER"`
	UserBurst int     `env:"RATE_PER_USER_BURST"`
	// CryptoPayToken enables ordering plans with Crypto Pay, as the
	// bot-handler's does; the same app, so the payment-watcher confirms
	// both.
	CryptoPayToken  string        `env:"CRYPTOPAY_TOKEN" secret:"true"`
	CryptoPayAPIURL string        `env:"CRYPTOPAY_API_URL"`
	CryptoPayAssets []string      `env:"CRYPTOPAY_ASSETS"`
	InvoiceTTL      time.Duration `env:"INVOICE_TTL"`
	// RequestTimeout bounds one API request; an order's Crypto Pay claim is
	// free from then on.
	RequestTimeout time.Duration `env:"REQUEST_TIMEOUT"`
	// FrameAncestors are origins besides Telegram's allowed to show the app
	// in a frame, e.g. make run's sandbox chat ("http://127.0.0.1:*").
	FrameAncestors []string `env:"WEBAPP_FRAME_ANCESTORS"`
	// Channel is the channel users must join, set as the bot-handler's:
	// in scope all the cabinet is for its members only, as the bot is.
	Channel channelgate.Settings
}

func defaultConfig() Config {
	return Config{
		// 9109 is the key server's.
		Base: config.NewBase(":9110"),
		// A page load is a handful of indexed reads: two connections serve
		// many users, and more would only count against the budget.
		DB:              config.NewDB(2),
		Telegram:        telegram.DefaultSettings(),
		HTTPAddr:        ":8091",
		SessionTTL:      time.Hour,
		InitDataMaxAge:  webappauth.DefaultMaxAge,
		IPRate:          10,
		IPBurst:         40,
		UserRate:        5,
		UserBurst:       20,
		CryptoPayAPIURL: cryptopay.DefaultBaseURL,
		CryptoPayAssets: []string{"USDT", "TON", "BTC"},
		InvoiceTTL:      shop.DefaultInvoiceTTL,
		RequestTimeout:  15 * time.Second,
		Channel:         channelgate.DefaultSettings(),
	}
}

// frameSource is an origin a CSP frame-ancestors may name: scheme, host
// (or *.domain), and a port or any port.
var frameSource = regexp.MustCompile(`^https?://(\*\.)?[a-zA-Z0-9.-]+(:(\d+|\*))?$`)

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate(), c.Telegram.Validate(), c.Channel.Validate()}
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("HTTP_ADDR is required"))
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("SESSION_TTL=%s: must be between 1m and 24h", c.SessionTTL))
	}
	if c.InitDataMaxAge < time.Minute {
		errs = append(errs, fmt.Errorf("INIT_DATA_MAX_AGE=%s: must be at least 1m", c.InitDataMaxAge))
	}
	if c.IPRate <= 0 || c.IPBurst < 1 || c.UserRate <= 0 || c.UserBurst < 1 {
		errs = append(errs, errors.New("RATE_PER_IP, RATE_PER_USER must be positive and their bursts at least 1"))
	}
	if u, err := url.Parse(c.CryptoPayAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("CRYPTOPAY_API_URL=%q: not an http(s) URL", c.CryptoPayAPIURL))
	}
	if c.CryptoPayToken != "" && len(c.CryptoPayAssets) == 0 {
		errs = append(errs, errors.New("CRYPTOPAY_ASSETS is empty"))
	}
	if c.InvoiceTTL < time.Minute || c.InvoiceTTL > cryptopay.MaxExpiresIn {
		errs = append(errs, fmt.Errorf("INVOICE_TTL=%s: must be between 1m and %s", c.InvoiceTTL, cryptopay.MaxExpiresIn))
	}
	for _, o := range c.FrameAncestors {
		if !frameSource.MatchString(o) {
			errs = append(errs, fmt.Errorf("WEBAPP_FRAME_ANCESTORS: %q is not an origin such as https://example.com or http://127.0.0.1:*", o))
		}
	}
	if c.RequestTimeout < time.Second {
		errs = append(errs, fmt.Errorf("REQUEST_TIMEOUT=%s: must be at least 1s", c.RequestTimeout))
	}
	return errors.Join(errs...)
}
