// Package vpntest has helpers for tests of code that calls a VPN panel.
package vpntest

import (
	"context"
	"sync"
	"time"

	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// Peak is a vpn.Provisioner that passes every call on and records the most
// panel calls (all methods but Name) it had in flight at once: what a test
// of a concurrency limit asserts on.
type Peak struct {
	vpn.Provisioner

	mu             sync.Mutex
	inFlight, peak int
}

// NewPeak wraps p.
func NewPeak(p vpn.Provisioner) *Peak { return &Peak{Provisioner: p} }

// Most returns the most calls that were in flight at once.
func (p *Peak) Most() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

func (p *Peak) Create(ctx context.Context, period vpn.Period) (vpn.Access, error) {
	defer p.enter()()
	return p.Provisioner.Create(ctx, period)
}

func (p *Peak) Extend(ctx context.Context, accessID string, expiresAt time.Time) error {
	defer p.enter()()
	return p.Provisioner.Extend(ctx, accessID, expiresAt)
}

func (p *Peak) Revoke(ctx context.Context, accessID string) error {
	defer p.enter()()
	return p.Provisioner.Revoke(ctx, accessID)
}

func (p *Peak) Status(ctx context.Context, accessID string) (vpn.Status, error) {
	defer p.enter()()
	return p.Provisioner.Status(ctx, accessID)
}

func (p *Peak) List(ctx context.Context) ([]vpn.Access, error) {
	defer p.enter()()
	return p.Provisioner.List(ctx)
}

// enter counts a call in and returns what counts it out.
func (p *Peak) enter() func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight++
	p.peak = max(p.peak, p.inFlight)
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.inFlight--
	}
}
