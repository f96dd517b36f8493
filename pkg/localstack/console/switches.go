package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	sandboxoutline "github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// Names of the switches, as the API and the status page take them; each
// panel has its own (PanelSwitch).
const (
	SwitchTelegram429   = "telegram-429"
	SwitchCryptoPayDown = "cryptopay-down"
)

// The faults a panel's switches inject, as the last part of their names.
const (
	// PanelSlow makes every call wait panelLatency.
	PanelSlow = "slow"
	// PanelFailing answers every call 500.
	PanelFailing = "failing"
	// PanelDown answers no call: each hangs until the caller gives up, as
	// with a host that is down or cut off.
	PanelDown = "down"
)

// panelFaults are a panel's switches in display order.
var panelFaults = []string{PanelDown, PanelFailing, PanelSlow}

// PanelSwitch is the name of a panel's switch of fault (PanelSlow,
// PanelFailing, PanelDown), e.g. "panel-outline-2-down".
func PanelSwitch(panel, fault string) string { return "panel-" + panel + "-" + fault }

// What the switches inject. The panel's latency stays under the panel
// client's own timeout (vpn.DefaultTimeout, 10 s): calls are slow but
// succeed, so the status page shows longer iterations, not failed ones.
const (
	panelLatency      = 3 * time.Second
	telegramRetryWait = 3 // seconds, the 429s' retry_after
)

// sendingMethods are the Bot API methods that Telegram flood-limits; the
// 429 switch fails these and leaves setWebhook, getMe and the like alone.
var sendingMethods = []string{"sendMessage", "sendPhoto", "sendInvoice", "editMessageText", "editMessageReplyMarkup"}

// Switch is one way to break the system, as GET /api/switches lists it.
type Switch struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
	On          bool   `json:"on"`
	// Panel names the panel a panel's switch breaks.
	Panel string `json:"panel,omitempty"`
	// fault is a panel's switch's fault (PanelSlow…).
	fault string
}

// Switchboard holds which switches are on and turns them into faults: the
// status page's switches, and the soak's (e2e/cmd/soak) panel and Telegram
// faults, which are the same. A sandbox's faults are cleared and injected
// again on every change, so two switches on one sandbox combine and turning
// one off keeps the other. That also clears faults injected by hand through
// /sandbox/faults.
type Switchboard struct {
	cfg Config

	mu   sync.Mutex
	list []Switch // in display order
}

// NewSwitchboard returns the switches of the sandboxes cfg names, all off;
// only Telegram, CryptoPay and Panels are read.
func NewSwitchboard(cfg Config) *Switchboard {
	b := &Switchboard{cfg: cfg}
	for _, p := range cfg.Panels {
		for _, f := range panelFaults {
			b.list = append(b.list, panelSwitch(p, f))
		}
	}
	b.list = append(b.list, Switch{Name: SwitchTelegram429, Title: "Telegram 429s",
		Description: fmt.Sprintf("Sending methods answer 429 Too Many Requests, retry after %ds.", telegramRetryWait)})
	if cfg.CryptoPay != nil {
		b.list = append(b.list, Switch{Name: SwitchCryptoPayDown, Title: "Crypto Pay down",
			Description: "Every Crypto Pay API call answers 503 from its proxy. Pay pages still open."})
	}
	return b
}

// Switches lists the switches and whether each is on.
func (b *Switchboard) Switches() []Switch {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.list)
}

var errNoSwitch = errors.New("no such switch")

// Set turns a switch on or off and applies the faults of its sandbox.
func (b *Switchboard) Set(name string, on bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.list, func(s Switch) bool { return s.Name == name })
	if i < 0 {
		return fmt.Errorf("%w %q", errNoSwitch, name)
	}
	b.list[i].On = on
	if p := b.list[i].Panel; p != "" {
		b.applyPanelLocked(p)
		return nil
	}
	switch name {
	case SwitchTelegram429:
		b.applyTelegramLocked()
	case SwitchCryptoPayDown:
		b.applyCryptoPayLocked()
	}
	return nil
}

func (b *Switchboard) onLocked(name string) bool {
	i := slices.IndexFunc(b.list, func(s Switch) bool { return s.Name == name })
	return i >= 0 && b.list[i].On
}

// panelSwitch is p's switch of fault, off.
func panelSwitch(p Panel, fault string) Switch {
	sw := Switch{Name: PanelSwitch(p.Name, fault), Panel: p.Name, fault: fault}
	switch fault {
	case PanelDown:
		sw.Title = p.Name + " down"
		sw.Description = "Every API call of this panel hangs, unanswered, until the caller gives up (VPN_PANEL_TIMEOUT): new users go to another panel of its location."
	case PanelFailing:
		sw.Title = p.Name + " failing"
		sw.Description = "Every API call of this panel answers 500 Internal Server Error."
	case PanelSlow:
		sw.Title = p.Name + " slow"
		sw.Description = fmt.Sprintf("Every API call of this panel waits %s before it is served.", panelLatency)
	}
	return sw
}

// applyPanelLocked injects one fault for all of a panel's switches: the
// first matching fault is the one that plays, so several would not add up.
func (b *Switchboard) applyPanelLocked(name string) {
	i := slices.IndexFunc(b.cfg.Panels, func(p Panel) bool { return p.Name == name })
	panel := b.cfg.Panels[i].Sandbox
	panel.ClearFaults()
	var f sandboxoutline.Fault
	for _, sw := range b.list {
		if sw.Panel != name || !sw.On {
			continue
		}
		switch sw.fault {
		case PanelSlow:
			f.Latency = panelLatency
		case PanelFailing:
			f.Status = http.StatusInternalServerError
		case PanelDown:
			f.Hang = true
		}
	}
	if f != (sandboxoutline.Fault{}) {
		panel.Inject(f)
	}
}

// panelFaultsOn lists the faults of the panel's switches that are on.
func (b *Switchboard) panelFaultsOn(name string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var on []string
	for _, sw := range b.list {
		if sw.Panel == name && sw.On {
			on = append(on, sw.fault)
		}
	}
	return on
}

func (b *Switchboard) applyTelegramLocked() {
	b.cfg.Telegram.ClearFaults()
	if !b.onLocked(SwitchTelegram429) {
		return
	}
	for _, m := range sendingMethods {
		b.cfg.Telegram.Inject(sandboxtg.Fault{Method: m, Status: http.StatusTooManyRequests, RetryAfter: telegramRetryWait})
	}
}

func (b *Switchboard) applyCryptoPayLocked() {
	b.cfg.CryptoPay.ClearFaults()
	if b.onLocked(SwitchCryptoPayDown) {
		b.cfg.CryptoPay.Inject(sandboxcp.Fault{Status: http.StatusServiceUnavailable})
	}
}

func (s *Server) listSwitches(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.switches.Switches())
}

func (s *Server) setSwitch(w http.ResponseWriter, r *http.Request) {
	var body struct {
		On *bool `json:"on"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if body.On == nil {
		fail(w, http.StatusBadRequest, errors.New(`"on" is required`))
		return
	}
	name := r.PathValue("name")
	if err := s.switches.Set(name, *body.On); err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	s.log.Info().Str("event", EventSwitch).Str("switch", name).Bool("on", *body.On).Msg("sandbox switch flipped")
	writeJSON(w, http.StatusOK, s.switches.Switches())
}
