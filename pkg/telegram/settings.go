package telegram

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultAPIURL is Telegram's Bot API.
const DefaultAPIURL = "https://api.telegram.org"

// Settings are the bot's Telegram settings as every service that calls the
// Bot API reads them from the environment: one definition for the gateway,
// the bot-handler and the sender.
type Settings struct {
	Token string `env:"TELEGRAM_BOT_TOKEN" secret:"true"`
	// APIURL is the Bot API base URL (the sandbox's in tests and make run).
	APIURL string `env:"TELEGRAM_API_URL"`
}

// DefaultSettings are the settings before the environment overlays them.
func DefaultSettings() Settings { return Settings{APIURL: DefaultAPIURL} }

// Validate reports settings that cannot work, never quoting the token.
func (s Settings) Validate() error {
	var errs []error
	if s.Token == "" {
		errs = append(errs, errors.New("TELEGRAM_BOT_TOKEN is required"))
	} else if _, err := BotID(s.Token); err != nil {
		errs = append(errs, fmt.Errorf("TELEGRAM_BOT_TOKEN: %w", err))
	}
	if u, err := url.Parse(s.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("TELEGRAM_API_URL=%q: not an http(s) URL", s.APIURL))
	}
	return errors.Join(errs...)
}

// NewClient returns the client of these settings, its metrics on reg, its
// sends paced by pacer (nil for a service that sends no messages).
func (s Settings) NewClient(reg prometheus.Registerer, pacer Pacer) (*Client, error) {
	return New(Config{APIURL: s.APIURL, Token: s.Token, Registerer: reg, Pacer: pacer})
}
