package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// Config is the bot-handler's configuration, read once from the environment.
type Config struct {
	config.Base
	config.DB
	TelegramToken  string `env:"TELEGRAM_BOT_TOKEN" secret:"true"`
	TelegramAPIURL string `env:"TELEGRAM_API_URL"`
	// Partitions must equal the gateway's: both map a chat to a partition.
	Partitions     int           `env:"UPDATE_PARTITIONS"`
	HandlerTimeout time.Duration `env:"HANDLER_TIMEOUT"`
	MaxDeliver     int           `env:"MAX_DELIVER"`
	RetryBase      time.Duration `env:"RETRY_BASE"`
	RetryMax       time.Duration `env:"RETRY_MAX"`
	FetchWait      time.Duration `env:"FETCH_WAIT"`
}

func defaultConfig() Config {
	return Config{
		Base:           config.NewBase(":9102"),
		DB:             config.NewDB(10),
		TelegramAPIURL: "https://api.telegram.org",
		Partitions:     bus.DefaultPartitions,
		HandlerTimeout: 25 * time.Second,
		MaxDeliver:     10,
		RetryBase:      time.Second,
		RetryMax:       time.Minute,
		FetchWait:      5 * time.Second,
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate()}
	if c.TelegramToken == "" {
		errs = append(errs, errors.New("TELEGRAM_BOT_TOKEN is required"))
	} else if _, err := telegram.BotID(c.TelegramToken); err != nil {
		errs = append(errs, fmt.Errorf("TELEGRAM_BOT_TOKEN: %w", err))
	}
	if c.TelegramAPIURL == "" {
		errs = append(errs, errors.New("TELEGRAM_API_URL is empty"))
	}
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
	return errors.Join(errs...)
}
