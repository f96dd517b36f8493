package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/ssconf"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

// defaultInterval is the polling interval: a missed activation.requested
// event delays a key by at most this long.
const defaultInterval = 15 * time.Second

// Config is the activation worker's configuration, read once from the environment.
type Config struct {
	config.Base
	config.DB
	worker.Env
	// Concurrency is how many panel calls an iteration makes at once.
	Concurrency int `env:"ACTIVATION_CONCURRENCY"`
	// BatchSize is how many pending subscriptions one iteration takes.
	BatchSize int `env:"ACTIVATION_BATCH_SIZE"`
	vpn.PanelEnv
	// Keys is the key server of Outline's dynamic keys: with KEYSERVER_URL
	// set, Outline users get a dynamic key instead of the panel's.
	Keys ssconf.Settings
	// AppURL is the Mini App's public URL: the key messages get a button
	// that opens it. Empty: no button.
	AppURL string `env:"WEBAPP_URL"`
}

func defaultConfig() Config {
	return Config{
		Base:        config.NewBase(":9106"),
		DB:          config.NewDB(4),
		Env:         worker.NewEnv(defaultInterval),
		Concurrency: activation.DefaultConcurrency,
		BatchSize:   activation.DefaultBatchSize,
		PanelEnv:    vpn.NewPanelEnv(),
		Keys:        ssconf.DefaultSettings(),
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate(), c.Env.Validate(), c.PanelEnv.Validate(), c.Keys.Validate(), botui.ValidateAppURL(c.AppURL)}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("ACTIVATION_CONCURRENCY=%d: must be at least 1", c.Concurrency))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("ACTIVATION_BATCH_SIZE=%d: must be at least 1", c.BatchSize))
	}
	// A location is chosen with a button that carries its label.
	for _, p := range c.Specs() {
		if len(p.Location) > botui.MaxLocation {
			errs = append(errs, fmt.Errorf("VPN_PANELS: panel %s: location %q is longer than %d bytes", p.Name, p.Location, botui.MaxLocation))
		}
	}
	// A panel call is bounded by both; the iteration's timeout must leave
	// room for at least one.
	if c.IterationTimeout > 0 && c.PanelTimeout >= c.IterationTimeout {
		errs = append(errs, fmt.Errorf("VPN_PANEL_TIMEOUT=%s: must be below WORKER_ITERATION_TIMEOUT=%s", c.PanelTimeout, c.IterationTimeout))
	}
	return errors.Join(errs...)
}
