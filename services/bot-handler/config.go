package main

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
)

// Config is the bot-handler's configuration, read once from the environment.
type Config struct {
	config.Base
	config.DB
	Telegram telegram.Settings
	// Pace is the per-chat limit the replies share with the sender's
	// notifications (TELEGRAM_CHAT_RATE, TELEGRAM_CHAT_BURST).
	Pace chatpace.Settings
	// Partitions must equal the gateway's: both map a chat to a partition.
	Partitions     int           `env:"UPDATE_PARTITIONS"`
	HandlerTimeout time.Duration `env:"HANDLER_TIMEOUT"`
	MaxDeliver     int           `env:"MAX_DELIVER"`
	RetryBase      time.Duration `env:"RETRY_BASE"`
	RetryMax       time.Duration `env:"RETRY_MAX"`
	FetchWait      time.Duration `env:"FETCH_WAIT"`
	// AdminIDs are the owners: the Telegram user ids allowed every admin
	// command, who grant the admin and support roles (/role).
	AdminIDs []int64 `env:"ADMIN_IDS"`
	// SupportContact is shown to users who need help, e.g. "@vpnbot_support".
	SupportContact string `env:"SUPPORT_CONTACT"`
	// CryptoPayToken enables Crypto Pay; without it only Stars are offered.
	CryptoPayToken  string        `env:"CRYPTOPAY_TOKEN" secret:"true"`
	CryptoPayAPIURL string        `env:"CRYPTOPAY_API_URL"`
	CryptoPayAssets []string      `env:"CRYPTOPAY_ASSETS"`
	TrialDuration   time.Duration `env:"TRIAL_DURATION"`
	InvoiceTTL      time.Duration `env:"INVOICE_TTL"`
	// CallbackMaxAge is how long a button press may wait in the stream (an
	// outage, a backlog) and still be acted on; 0 acts on every press.
	CallbackMaxAge time.Duration `env:"CALLBACK_MAX_AGE"`
	// SenderRate is the sender's SENDER_RATE, messages a second: a
	// broadcast's preview says how long it takes at it.
	SenderRate float64 `env:"SENDER_RATE"`
	// Referrals are the rewards of the Stars payments the bot applies; the
	// payment-watcher must have the same.
	Referrals shop.ReferralEnv
	// Channel is the channel users must join (REQUIRED_CHANNEL*).
	Channel channelgate.Settings
	// AppURL is the Mini App's public URL: the menu and the bot's menu
	// button open it. Empty: no app.
	AppURL string `env:"WEBAPP_URL"`
}

func defaultConfig() Config {
	return Config{
		Base:           config.NewBase(":9102"),
		DB:             config.NewDB(10),
		Telegram:       telegram.DefaultSettings(),
		Pace:           chatpace.DefaultSettings(),
		Partitions:     telegram.DefaultPartitions,
		HandlerTimeout: 25 * time.Second,
		MaxDeliver:     10,
		RetryBase:      time.Second,
		RetryMax:       time.Minute,
		FetchWait:      5 * time.Second,
		SupportContact: "@vpnbot_support",
		// The mainnet API; https://testnet-pay.crypt.bot for testing.
		CryptoPayAPIURL: cryptopay.DefaultBaseURL,
		CryptoPayAssets: []string{"USDT", "TON", "BTC"},
		TrialDuration:   shop.DefaultTrialDuration,
		InvoiceTTL:      shop.DefaultInvoiceTTL,
		CallbackMaxAge:  time.Minute,
		SenderRate:      bot.DefaultBroadcastRate,
		Referrals:       shop.NewReferralEnv(),
		Channel:         channelgate.DefaultSettings(),
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate(), c.Telegram.Validate(), c.Pace.Validate(), c.Referrals.Validate(), c.Channel.Validate(),
		botui.ValidateAppURL(c.AppURL)}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("UPDATE_PARTITIONS=%d: must be at least 1", c.Partitions))
	}
	if c.HandlerTimeout <= 0 {
		errs = append(errs, fmt.Errorf("HANDLER_TIMEOUT=%s: must be positive", c.HandlerTimeout))
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("MAX_DELIVER=%d: must be at least 1", c.MaxDeliver))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		errs = append(errs, fmt.Errorf("RETRY_BASE=%s, RETRY_MAX=%s: want 0 < RETRY_BASE <= RETRY_MAX", c.RetryBase, c.RetryMax))
	}
	if c.FetchWait <= 0 {
		errs = append(errs, fmt.Errorf("FETCH_WAIT=%s: must be positive", c.FetchWait))
	}
	if c.SupportContact == "" {
		errs = append(errs, errors.New("SUPPORT_CONTACT is empty"))
	}
	for _, id := range c.AdminIDs {
		if id <= 0 {
			errs = append(errs, fmt.Errorf("ADMIN_IDS: %d is not a Telegram user id", id))
		}
	}
	if u, err := url.Parse(c.CryptoPayAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("CRYPTOPAY_API_URL=%q: not an http(s) URL", c.CryptoPayAPIURL))
	}
	if c.CryptoPayToken != "" && len(c.CryptoPayAssets) == 0 {
		errs = append(errs, errors.New("CRYPTOPAY_ASSETS is empty"))
	}
	if c.TrialDuration < time.Minute {
		errs = append(errs, fmt.Errorf("TRIAL_DURATION=%s: must be at least 1m", c.TrialDuration))
	}
	// Crypto Pay invoices live 1 s to 31 days.
	if c.SenderRate <= 0 {
		errs = append(errs, fmt.Errorf("SENDER_RATE=%g: must be positive", c.SenderRate))
	}
	if c.CallbackMaxAge < 0 {
		errs = append(errs, fmt.Errorf("CALLBACK_MAX_AGE=%s: must not be negative", c.CallbackMaxAge))
	}
	if c.InvoiceTTL < time.Minute || c.InvoiceTTL > cryptopay.MaxExpiresIn {
		errs = append(errs, fmt.Errorf("INVOICE_TTL=%s: must be between 1m and %s", c.InvoiceTTL, cryptopay.MaxExpiresIn))
	}
	return errors.Join(errs...)
}
