package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

// defaultInterval is the polling interval: a missed activation.requested
// event delays a key by at most this long.
const defaultInterval = 15 * time.Second

// Panels VPN_PANEL may name.
const (
	panelOutline   = "outline"
	panelRemnawave = "remnawave"
)

// Config is the activation worker's configuration, read once from the environment.
type Config struct {
	config.Base
	config.DB
	worker.Env
	// Concurrency is how many panel calls an iteration makes at once.
	Concurrency int `env:"ACTIVATION_CONCURRENCY"`
	// BatchSize is how many pending subscriptions one iteration takes.
	BatchSize int `env:"ACTIVATION_BATCH_SIZE"`

	Panel string `env:"VPN_PANEL"`
	// PanelTimeout bounds one HTTP request to the panel.
	PanelTimeout time.Duration `env:"VPN_PANEL_TIMEOUT"`
	// OutlineAPIURL's path is the management API's secret.
	OutlineAPIURL     string   `env:"OUTLINE_API_URL" secret:"true"`
	OutlineCertSHA256 string   `env:"OUTLINE_CERT_SHA256"`
	RemnawaveURL      string   `env:"REMNAWAVE_URL"`
	RemnawaveToken    string   `env:"REMNAWAVE_TOKEN" secret:"true"`
	RemnawaveSquads   []string `env:"REMNAWAVE_SQUADS" envSeparator:","`
}

func defaultConfig() Config {
	return Config{
		Base:         config.NewBase(":9106"),
		DB:           config.NewDB(4),
		Env:          worker.NewEnv(defaultInterval),
		Concurrency:  activation.DefaultConcurrency,
		BatchSize:    activation.DefaultBatchSize,
		Panel:        panelOutline,
		PanelTimeout: vpn.DefaultTimeout,
	}
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.DB.Validate(), c.Env.Validate()}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("ACTIVATION_CONCURRENCY=%d: must be at least 1", c.Concurrency))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("ACTIVATION_BATCH_SIZE=%d: must be at least 1", c.BatchSize))
	}
	if c.PanelTimeout <= 0 {
		errs = append(errs, fmt.Errorf("VPN_PANEL_TIMEOUT=%s: must be positive", c.PanelTimeout))
	}
	// A panel call is bounded by both; the iteration's timeout must leave
	// room for at least one.
	if c.IterationTimeout > 0 && c.PanelTimeout >= c.IterationTimeout {
		errs = append(errs, fmt.Errorf("VPN_PANEL_TIMEOUT=%s: must be below WORKER_ITERATION_TIMEOUT=%s", c.PanelTimeout, c.IterationTimeout))
	}
	switch c.Panel {
	case panelOutline:
		if c.OutlineAPIURL == "" {
			errs = append(errs, errors.New("OUTLINE_API_URL is required with VPN_PANEL=outline"))
		}
	case panelRemnawave:
		if c.RemnawaveURL == "" || c.RemnawaveToken == "" {
			errs = append(errs, errors.New("REMNAWAVE_URL and REMNAWAVE_TOKEN are required with VPN_PANEL=remnawave"))
		}
	default:
		errs = append(errs, fmt.Errorf("VPN_PANEL=%q: want outline or remnawave", c.Panel))
	}
	return errors.Join(errs...)
}

// provisioner is the adapter of the configured panel, with Close.
type provisioner interface {
	activation.Provisioner
	Close() error
}

// newProvisioner builds the configured panel's adapter; it makes no request.
func newProvisioner(c Config) (provisioner, error) {
	if c.Panel == panelRemnawave {
		return vpn.NewRemnawave(vpn.RemnawaveConfig{
			BaseURL: c.RemnawaveURL, Token: c.RemnawaveToken, Timeout: c.PanelTimeout, SquadUUIDs: c.RemnawaveSquads,
		})
	}
	return vpn.NewOutline(vpn.OutlineConfig{APIURL: c.OutlineAPIURL, CertSHA256: c.OutlineCertSHA256, Timeout: c.PanelTimeout})
}
