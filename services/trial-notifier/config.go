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
	// MaxAge is how long after falling due a notice is still sent.
	MaxAge time.Duration `env:"TRIAL_NOTICE_MAX_AGE"`
	// Grace is expiry-cleanup's setting of the same name: the trial-ended
	// notice tells when the key stops working.
	Grace time.Duration `env:"EXPIRY_GRACE"`
}

func defaultConfig() Config {
	return Config{
		Base:      config.NewBase(":9104"),
		DB:        config.NewDB(3),
		Env:       worker.NewEnv(defaultInterval),
		BatchSize: notifier.DefaultBatchSize,
		MaxAge:    notifier.DefaultMaxAge,
		Grace:     notifier.DefaultGrace,
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
	if c.Grace <= 0 {
		errs = append(errs, fmt.Errorf("EXPIRY_GRACE=%s: must be positive", c.Grace))
	}
	return errors.Join(errs...)
}
