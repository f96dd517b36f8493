package main

import (
	"errors"

	"github.com/vpnbot/vpnbot/pkg/config"
)

// Config is the key server's configuration, read once from the environment.
type Config struct {
	config.Base
	config.DB
	// HTTPAddr serves the keys (the Outline clients' side, not the ops
	// port).
	HTTPAddr string `env:"HTTP_ADDR"`
}

func defaultConfig() Config {
	return Config{
		Base: config.NewBase(":9109"),
		// A request is one indexed query: two connections serve many
		// clients, and a third would only count against the budget.
		DB:       config.NewDB(2),
		HTTPAddr: ":8090",
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate()}
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("HTTP_ADDR is required"))
	}
	return errors.Join(errs...)
}
