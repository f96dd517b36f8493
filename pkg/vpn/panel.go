package vpn

import (
	"errors"
	"fmt"
	"time"
)

// Panels PanelEnv.Panel may name.
const (
	PanelOutline   = "outline"
	PanelRemnawave = "remnawave"
)

// PanelEnv is the environment that chooses and reaches the VPN panel, for
// each service that calls it (activation, expiry-cleanup) to embed in its
// configuration.
type PanelEnv struct {
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

// NewPanelEnv returns the defaults: Outline, DefaultTimeout.
func NewPanelEnv() PanelEnv {
	return PanelEnv{Panel: PanelOutline, PanelTimeout: DefaultTimeout}
}

// Validate reports the settings that cannot work.
func (e PanelEnv) Validate() error {
	var errs []error
	if e.PanelTimeout <= 0 {
		errs = append(errs, fmt.Errorf("VPN_PANEL_TIMEOUT=%s: must be positive", e.PanelTimeout))
	}
	switch e.Panel {
	case PanelOutline:
		if e.OutlineAPIURL == "" {
			errs = append(errs, errors.New("OUTLINE_API_URL is required with VPN_PANEL=outline"))
		}
	case PanelRemnawave:
		if e.RemnawaveURL == "" || e.RemnawaveToken == "" {
			errs = append(errs, errors.New("REMNAWAVE_URL and REMNAWAVE_TOKEN are required with VPN_PANEL=remnawave"))
		}
	default:
		errs = append(errs, fmt.Errorf("VPN_PANEL=%q: want outline or remnawave", e.Panel))
	}
	return errors.Join(errs...)
}

// ClosingProvisioner is a provisioner that holds connections to close.
type ClosingProvisioner interface {
	Provisioner
	Close() error
}

// New builds the configured panel's adapter; it makes no request.
func (e PanelEnv) New() (ClosingProvisioner, error) {
	if e.Panel == PanelRemnawave {
		return NewRemnawave(RemnawaveConfig{
			BaseURL: e.RemnawaveURL, Token: e.RemnawaveToken, Timeout: e.PanelTimeout, SquadUUIDs: e.RemnawaveSquads,
		})
	}
	return NewOutline(OutlineConfig{APIURL: e.OutlineAPIURL, CertSHA256: e.OutlineCertSHA256, Timeout: e.PanelTimeout})
}
