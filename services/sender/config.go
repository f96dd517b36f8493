package main

import (
	"errors"
	"fmt"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
	"github.com/vpnbot/vpnbot/services/sender/internal/sender"
)

// Config is the sender's configuration, read once from the environment.
type Config struct {
	config.Base
	config.DB
	Telegram telegram.Settings
	// Pace is the per-chat limit the sender shares with the bot-handler
	// (TELEGRAM_CHAT_RATE, TELEGRAM_CHAT_BURST).
	Pace chatpace.Settings
	// Rate is the bot-wide limit in sends per second; keep it below
	// Telegram's ~30/s to leave room for the bot-handler's replies.
	Rate float64 `env:"SENDER_RATE"`
	// PaidRate is the limit of paid broadcasts' messages in sends per
	// second, which go past Rate and the bot-wide budget (Telegram allows
	// up to 1,000/s for Stars); the per-chat limit holds for them.
	PaidRate float64 `env:"SENDER_PAID_RATE"`
	// MaxAttempts is how many transient failures a command may have before
	// it is dead-lettered.
	MaxAttempts int `env:"SENDER_MAX_ATTEMPTS"`
}

func defaultConfig() Config {
	return Config{
		Base: config.NewBase(":9108"),
		// The sends in flight each reserve their chat's slot: at a paid
		// broadcast's thousand a second two connections would queue them.
		DB:          config.NewDB(4),
		Telegram:    telegram.DefaultSettings(),
		Pace:        chatpace.DefaultSettings(),
		Rate:        sender.DefaultRate,
		PaidRate:    sender.DefaultPaidRate,
		MaxAttempts: sender.DefaultMaxAttempts,
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate(), c.Telegram.Validate(), c.Pace.Validate()}
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("SENDER_RATE=%g: must be positive", c.Rate))
	}
	if c.PaidRate <= 0 || c.PaidRate > sender.DefaultPaidRate {
		errs = append(errs, fmt.Errorf("SENDER_PAID_RATE=%g: must be positive and at most Telegram's %d", c.PaidRate, sender.DefaultPaidRate))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("SENDER_MAX_ATTEMPTS=%d: must be at least 1", c.MaxAttempts))
	}
	return errors.Join(errs...)
}
