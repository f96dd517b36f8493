// Package vpnmetrics exports the calls to a fleet's VPN panels and their
// health as Prometheus metrics, for the services that call the panels
// (activation, expiry-cleanup); pkg/vpn itself measures nothing.
package vpnmetrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// Metrics times every call to a panel (vpnbot_panel_request_duration_seconds
// by panel, method and outcome) and, once a fleet is watched, says which
// panels are up (vpnbot_panel_up).
type Metrics struct {
	reg      prometheus.Registerer
	duration *prometheus.HistogramVec
}

// New registers the call metric on reg (nil: not exported).
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{reg: reg, duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vpnbot_panel_request_duration_seconds",
		Help:    "Calls to a VPN panel by panel, method and outcome (ok, unavailable, unauthorized, untrusted, not_found, canceled, error).",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"panel", "method", "outcome"})}
	if reg != nil {
		if err := reg.Register(m.duration); err != nil {
			return nil, fmt.Errorf("registering the panel metrics: %w", err)
		}
	}
	return m, nil
}

// Observe records one call; it is the fleet's vpn.Observer.
func (m *Metrics) Observe(panel, method string, took time.Duration, err error) {
	m.duration.WithLabelValues(panel, method, Outcome(err)).Observe(took.Seconds())
}

// Outcome names how a panel call ended.
func Outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, vpn.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, vpn.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, vpn.ErrUntrustedCertificate):
		return "untrusted"
	case errors.Is(err, vpn.ErrNotFound):
		return "not_found"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	default:
		return "error"
	}
}

// Watch exports vpnbot_panel_up for each panel of f: 1 while its last call
// was answered, 0 since a call failed on the panel's side.
func (m *Metrics) Watch(f *vpn.Fleet) error {
	if m.reg == nil {
		return nil
	}
	for _, p := range f.Members() {
		up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "vpnbot_panel_up",
			Help:        "1 while the VPN panel answers, 0 since a call to it failed on its side (down, 5xx, slow, refusing our credentials).",
			ConstLabels: prometheus.Labels{"panel": p.Name(), "kind": p.Kind(), "location": p.Location()},
		}, func() float64 {
			if since, _ := p.Down(); !since.IsZero() {
				return 0
			}
			return 1
		})
		if err := m.reg.Register(up); err != nil {
			return fmt.Errorf("registering the health of panel %s: %w", p.Name(), err)
		}
	}
	return nil
}

// Fleet builds env's fleet, each panel allowing calls requests at once, with
// its calls and health exported on reg (nil: not exported).
func Fleet(env vpn.PanelEnv, calls int, reg prometheus.Registerer) (*vpn.Fleet, error) {
	m, err := New(reg)
	if err != nil {
		return nil, err
	}
	f, err := env.New(calls, m.Observe)
	if err != nil {
		return nil, err
	}
	if err := m.Watch(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
