package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/reminders/internal/feed"
	"github.com/vpnbot/vpnbot/services/reminders/internal/reminders"
)

// defaultInterval is the polling interval: a reminder goes out at most this
// long after its stage's window opens.
const defaultInterval = time.Minute

// Config is the reminders worker's configuration, read once from the environment.
type Config struct {
	config.Base
	config.DB
	worker.Env
	// Stages are how long before expiry the reminders go out ("72h,24h,1h").
	Stages reminders.Stages `env:"REMINDER_STAGES"`
	// BatchSize is how many subscriptions one claim takes.
	BatchSize int `env:"REMINDER_BATCH_SIZE"`
	// Grace is expiry-cleanup's setting of the same name: the notice of a
	// period's end tells when the key stops working, and is due until then.
	Grace time.Duration `env:"EXPIRY_GRACE"`
	// RenewLead is how long before its expiry a period with auto-renewal
	// on is renewed from the balance.
	RenewLead time.Duration `env:"AUTO_RENEW_LEAD"`
	// FeedChat is the seller's chat that the sales feed is posted to (a
	// group's negative id); 0 turns the feed off.
	FeedChat int64 `env:"ADMIN_FEED_CHAT"`
	// FeedSummaryHour is the UTC hour (0–23) from which the feed posts the
	// summary of the day before.
	FeedSummaryHour int `env:"ADMIN_FEED_SUMMARY_HOUR"`
	// FeedLang is the feed's language: en or ru.
	FeedLang string `env:"ADMIN_FEED_LANG"`
}

func defaultConfig() Config {
	return Config{
		Base:      config.NewBase(":9103"),
		DB:        config.NewDB(3),
		Env:       worker.NewEnv(defaultInterval),
		Stages:    reminders.DefaultStages(),
		BatchSize: reminders.DefaultBatchSize,
		Grace:     reminders.DefaultGrace,
		RenewLead: reminders.DefaultRenewLead,

		FeedSummaryHour: feed.DefaultSummaryHour,
		FeedLang:        botui.English,
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate(), c.Env.Validate()}
	if err := c.Stages.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("REMINDER_STAGES=%s: %w", c.Stages, err))
	} else if shortest := c.Stages[0]; c.Interval > shortest {
		// The window of the shortest stage could open and close between two
		// iterations: some expiries would get no last reminder.
		errs = append(errs, fmt.Errorf("REMINDER_STAGES=%s: the shortest stage %s is below WORKER_INTERVAL=%s",
			c.Stages, shortest, c.Interval))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("REMINDER_BATCH_SIZE=%d: must be at least 1", c.BatchSize))
	}
	switch {
	case c.Grace <= 0:
		errs = append(errs, fmt.Errorf("EXPIRY_GRACE=%s: must be positive", c.Grace))
	case c.Grace < c.Interval:
		// The notice of the end is due for the grace only: a poll every
		// WORKER_INTERVAL could miss it.
		errs = append(errs, fmt.Errorf("EXPIRY_GRACE=%s: shorter than WORKER_INTERVAL=%s, a period's end could pass untold",
			c.Grace, c.Interval))
	}
	switch {
	case c.RenewLead <= 0:
		errs = append(errs, fmt.Errorf("AUTO_RENEW_LEAD=%s: must be positive", c.RenewLead))
	case c.RenewLead < c.Interval:
		// A period could come due and end between two iterations: renewed
		// only in its grace, its user would be without access meanwhile.
		errs = append(errs, fmt.Errorf("AUTO_RENEW_LEAD=%s: shorter than WORKER_INTERVAL=%s, a period could end before it is renewed",
			c.RenewLead, c.Interval))
	}
	if c.FeedSummaryHour < 0 || c.FeedSummaryHour > 23 {
		errs = append(errs, fmt.Errorf("ADMIN_FEED_SUMMARY_HOUR=%d: must be a UTC hour, 0 to 23", c.FeedSummaryHour))
	}
	if c.FeedChat != 0 && c.PoolMaxSize < 2 {
		// A feed pass holds one connection for its length (the chat's
		// hold) and queries on another.
		errs = append(errs, fmt.Errorf("DB_POOL_MAX_SIZE=%d: the feed (ADMIN_FEED_CHAT) needs at least 2", c.PoolMaxSize))
	}
	if c.FeedLang != botui.English && c.FeedLang != botui.Russian {
		errs = append(errs, fmt.Errorf("ADMIN_FEED_LANG=%q: must be en or ru", c.FeedLang))
	}
	return errors.Join(errs...)
}
