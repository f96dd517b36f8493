package vpn

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Panels PanelEnv.Panel may name.
const (
	PanelOutline   = KindOutline
	PanelRemnawave = KindRemnawave
)

// PanelSpec is one panel of VPN_PANELS: its kind, how to reach it, and how
// new users are placed on it. Which fields a kind needs:
//   - outline: url (the management API URL, with its secret path) and,
//     for a self-signed certificate, cert_sha256;
//   - remnawave: url and token (an API token), squads optionally;
//   - marzban: url, username and password (an admin), proxies optionally;
//   - 3x-ui: url (with the web base path), username, password, inbound_id
//     and subscription_url (the base of the subscription links).
type PanelSpec struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Location string `json:"location"`
	Weight   int    `json:"weight"`
	Capacity int    `json:"capacity"`

	URL             string   `json:"url"`
	Token           string   `json:"token"`
	Username        string   `json:"username"`
	Password        string   `json:"password"`
	CertSHA256      string   `json:"cert_sha256"`
	Squads          []string `json:"squads"`
	Proxies         []string `json:"proxies"`
	InboundID       int      `json:"inbound_id"`
	SubscriptionURL string   `json:"subscription_url"`
}

// PanelList is VPN_PANELS: a JSON array of PanelSpec.
type PanelList []PanelSpec

// MarshalText writes the JSON array, as UnmarshalText reads it.
func (l PanelList) MarshalText() ([]byte, error) {
	b, err := json.Marshal([]PanelSpec(l))
	if err != nil {
		return nil, fmt.Errorf("writing the panels as JSON: %w", err)
	}
	return b, nil
}

// UnmarshalText reads the JSON array.
func (l *PanelList) UnmarshalText(b []byte) error {
	var specs []PanelSpec
	if err := json.Unmarshal(b, &specs); err != nil {
		return fmt.Errorf("want a JSON array of panels: %w", err)
	}
	*l = specs
	return nil
}

// PanelEnv is the environment that chooses and reaches the VPN panels, for
// each service that calls them (activation, expiry-cleanup) to embed in its
// configuration. VPN_PANELS lists several panels; without it, the
// single-panel settings (VPN_PANEL and the chosen kind's) make a fleet of
// one panel named after its kind.
type PanelEnv struct {
	Panels PanelList `env:"VPN_PANELS" secret:"true"`
	// Failover places new users on another panel of their location while
	// the one whose turn it is is down, instead of waiting for it.
	Failover bool `env:"VPN_FAILOVER"`
	// ProbeAfter is how long a failed panel is passed over for new users
	// before one is placed on it to see whether it is back.
	ProbeAfter time.Duration `env:"VPN_PANEL_PROBE_AFTER"`
	Panel      string        `env:"VPN_PANEL"`
	// PanelTimeout bounds one HTTP request to a panel.
	PanelTimeout time.Duration `env:"VPN_PANEL_TIMEOUT"`
	// OutlineAPIURL's path is the management API's secret.
	OutlineAPIURL     string   `env:"OUTLINE_API_URL" secret:"true"`
	OutlineCertSHA256 string   `env:"OUTLINE_CERT_SHA256"`
	RemnawaveURL      string   `env:"REMNAWAVE_URL"`
	RemnawaveToken    string   `env:"REMNAWAVE_TOKEN" secret:"true"`
	RemnawaveSquads   []string `env:"REMNAWAVE_SQUADS" envSeparator:","`
}

// NewPanelEnv returns the defaults: Outline, DefaultTimeout, failover on.
func NewPanelEnv() PanelEnv {
	return PanelEnv{Panel: PanelOutline, PanelTimeout: DefaultTimeout, Failover: true, ProbeAfter: DefaultProbeAfter}
}

// Specs returns the panels the environment configures: VPN_PANELS, or the
// single panel of VPN_PANEL.
func (e PanelEnv) Specs() []PanelSpec {
	if len(e.Panels) > 0 {
		return e.Panels
	}
	s := PanelSpec{Name: e.Panel, Kind: e.Panel}
	switch e.Panel {
	case PanelOutline:
		s.URL, s.CertSHA256 = e.OutlineAPIURL, e.OutlineCertSHA256
	case PanelRemnawave:
		s.URL, s.Token, s.Squads = e.RemnawaveURL, e.RemnawaveToken, e.RemnawaveSquads
	}
	return []PanelSpec{s}
}

// Validate reports the settings that cannot work.
func (e PanelEnv) Validate() error {
	var errs []error
	if e.PanelTimeout <= 0 {
		errs = append(errs, fmt.Errorf("VPN_PANEL_TIMEOUT=%s: must be positive", e.PanelTimeout))
	}
	if e.ProbeAfter <= 0 {
		errs = append(errs, fmt.Errorf("VPN_PANEL_PROBE_AFTER=%s: must be positive", e.ProbeAfter))
	}
	if len(e.Panels) == 0 {
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
			errs = append(errs, fmt.Errorf("VPN_PANEL=%q: want outline or remnawave, or list the panels in VPN_PANELS", e.Panel))
		}
		return errors.Join(errs...)
	}
	names := map[string]bool{}
	for i, s := range e.Panels {
		if err := s.check(); err != nil {
			errs = append(errs, fmt.Errorf("VPN_PANELS[%d]: %w", i, err))
		}
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("VPN_PANELS[%d]: name %q is used twice", i, s.Name))
		}
		names[s.Name] = true
	}
	return errors.Join(errs...)
}

// check reports what the spec lacks for its kind.
func (s PanelSpec) check() error {
	if s.Name == "" || !prefixPattern.MatchString(s.Name) {
		return fmt.Errorf("name %q: want letters, digits, '_' or '-'", s.Name)
	}
	if s.Weight < 0 || s.Capacity < 0 {
		return fmt.Errorf("%s: weight and capacity must not be negative", s.Name)
	}
	need := map[string]bool{"url": s.URL != ""}
	switch s.Kind {
	case KindOutline:
	case KindRemnawave:
		need["token"] = s.Token != ""
	case KindMarzban:
		need["username"], need["password"] = s.Username != "", s.Password != ""
	case KindXUI:
		need["username"], need["password"] = s.Username != "", s.Password != ""
		need["inbound_id"], need["subscription_url"] = s.InboundID > 0, s.SubscriptionURL != ""
	default:
		return fmt.Errorf("%s: kind %q: want %s, %s, %s or %s", s.Name, s.Kind, KindOutline, KindRemnawave, KindMarzban, KindXUI)
	}
	var missing []error
	for _, field := range []string{"url", "token", "username", "password", "inbound_id", "subscription_url"} {
		if ok, needed := need[field]; needed && !ok {
			missing = append(missing, fmt.Errorf("%s (%s) needs %s", s.Name, s.Kind, field))
		}
	}
	return errors.Join(missing...)
}

// New builds the fleet of the configured panels, each adapter allowing
// calls requests at once (Limit), every call told to observe (nil: none);
// it makes no request.
func (e PanelEnv) New(calls int, observe Observer) (*Fleet, error) {
	var (
		panels []Panel
		cfgs   []MemberConfig
	)
	for _, s := range e.Specs() {
		p, err := s.adapter(e.PanelTimeout)
		if err != nil {
			for _, q := range panels {
				_ = q.Close()
			}
			return nil, fmt.Errorf("panel %s: %w", s.Name, err)
		}
		panels = append(panels, Limit(p, calls))
		cfgs = append(cfgs, MemberConfig{Name: s.Name, Location: s.Location, Weight: s.Weight, Capacity: s.Capacity})
	}
	return NewFleet(panels, cfgs, FleetOptions{Failover: e.Failover, ProbeAfter: e.ProbeAfter, Observe: observe})
}

// adapter builds the spec's adapter.
func (s PanelSpec) adapter(timeout time.Duration) (Panel, error) {
	switch s.Kind {
	case KindRemnawave:
		return NewRemnawave(RemnawaveConfig{BaseURL: s.URL, Token: s.Token, Timeout: timeout, SquadUUIDs: s.Squads})
	case KindMarzban:
		return NewMarzban(MarzbanConfig{BaseURL: s.URL, Username: s.Username, Password: s.Password, Proxies: s.Proxies, Timeout: timeout})
	case KindXUI:
		return NewXUI(XUIConfig{BaseURL: s.URL, Username: s.Username, Password: s.Password, InboundID: s.InboundID,
			SubscriptionURL: s.SubscriptionURL, Timeout: timeout})
	default:
		return NewOutline(OutlineConfig{APIURL: s.URL, CertSHA256: s.CertSHA256, Timeout: timeout})
	}
}
