package main

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// Config is the payment-watcher's configuration, read once from the environment.
type Config struct {
	config.Base
	config.DB
	worker.Env
	// CryptoPayToken is the Crypto Pay API token (getInvoices).
	CryptoPayToken string `env:"CRYPTOPAY_TOKEN" secret:"true"`
	// CryptoPayAPIURL is the API's base URL (the sandbox's in tests and `make run`).
	CryptoPayAPIURL string `env:"CRYPTOPAY_API_URL"`
	// Referrals are the rewards of the Crypto Pay payments the watcher
	// applies; the bot-handler must have the same.
	Referrals shop.ReferralEnv
}

func defaultConfig() Config {
	env := worker.NewEnv(defaultInterval)
	// Replicas must not ask Crypto Pay twice: one polls, the others stand by.
	env.Singleton = true
	return Config{
		Base:            config.NewBase(":9107"),
		DB:              config.NewDB(3),
		Env:             env,
		CryptoPayAPIURL: cryptopay.DefaultBaseURL,
		Referrals:       shop.NewReferralEnv(),
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate(), c.Env.Validate(), c.Referrals.Validate()}
	if c.CryptoPayToken == "" {
		errs = append(errs, errors.New("CRYPTOPAY_TOKEN is required"))
	}
	if u, err := url.Parse(c.CryptoPayAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("CRYPTOPAY_API_URL=%q: not an http(s) URL", c.CryptoPayAPIURL))
	}
	return errors.Join(errs...)
}
