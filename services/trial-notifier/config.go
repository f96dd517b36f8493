package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/trial-notifier/internal/notifier"
)

// defaultInterval is the polling interval: a notice goes out at most this
// long after it falls due, well within the hour of the most urgent one.
const defaultInterval = time.Minute

// Config is the trial-notifier's configuration, read once from the environment.
type Config struct {
	config.Base
	config.DB
	worker.Env
	// BatchSize is how many notices are claimed and published at once.
	BatchSize int `env:"TRIAL_NOTIFIER_BATCH_SIZE"`
	// MaxAge is how long after falling due a never-started nudge is still
	// sent.
	MaxAge time.Duration `env:"TRIAL_NOTICE_MAX_AGE"`
	// Grace is expiry-cleanup's setting of the same name: the trial-ended
	// notice tells when the key stops working, and is due until then.
	Grace time.Duration `env:"EXPIRY_GRACE"`
	// Leads are how long before a trial's end the first and the last "ends
	// soon" notices go out ("24h,1h").
	Leads notifier.Leads `env:"TRIAL_NOTICE_LEADS"`
}

func defaultConfig() Config {
	return Config{
		Base:      config.NewBase(":9104"),
		DB:        config.NewDB(3),
		Env:       worker.NewEnv(defaultInterval),
		BatchSize: notifier.DefaultBatchSize,
		MaxAge:    notifier.DefaultMaxAge,
		Grace:     notifier.DefaultGrace,
		Leads:     notifier.DefaultLeads,
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate(), c.Env.Validate()}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("TRIAL_NOTIFIER_BATCH_SIZE=%d: must be at least 1", c.BatchSize))
	}
	if c.MaxAge <= 0 {
		errs = append(errs, fmt.Errorf("TRIAL_NOTICE_MAX_AGE=%s: must be positive", c.MaxAge))
	}
	switch {
	case c.Grace <= 0:
		errs = append(errs, fmt.Errorf("EXPIRY_GRACE=%s: must be positive", c.Grace))
	case c.Grace < c.Interval:
		// The trial-ended notice is due for the grace only: a poll every
		// WORKER_INTERVAL could miss it.
		errs = append(errs, fmt.Errorf("EXPIRY_GRACE=%s: shorter than WORKER_INTERVAL=%s, a trial's end could pass untold",
			c.Grace, c.Interval))
	}
	return errors.Join(append(errs, c.validateLeads())...)
}

// validateLeads reports leads that cannot work, or whose notices a poll
// every WORKER_INTERVAL could miss: a trial is due each notice for a window
// as long as the last lead, and the first lead beyond it.
func (c Config) validateLeads() error {
	if err := c.Leads.Validate(); err != nil {
		return fmt.Errorf("TRIAL_NOTICE_LEADS=%s: %w", c.Leads, err)
	}
	if c.Leads.Last < c.Interval {
		return fmt.Errorf("TRIAL_NOTICE_LEADS=%s: the last lead is shorter than WORKER_INTERVAL=%s", c.Leads, c.Interval)
	}
	if c.Leads.First-c.Leads.Last < c.Interval {
		return fmt.Errorf("TRIAL_NOTICE_LEADS=%s: the leads are less than WORKER_INTERVAL=%s apart", c.Leads, c.Interval)
	}
	return nil
}
