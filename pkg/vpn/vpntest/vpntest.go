// Package vpntest has helpers for tests of code that calls a VPN panel.
package vpntest

import (
	"context"
	"sync"

	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// Peak is a vpn.Panel that passes every call on and records the most panel
// calls (all methods but Kind and Close) it had in flight at once: what a
// test of a concurrency limit asserts on.
type Peak struct {
	vpn.Panel

	mu             sync.Mutex
	inFlight, peak int
}

// NewPeak wraps p.
func NewPeak(p vpn.Panel) *Peak { return &Peak{Panel: p} }

// Most returns the most calls that were in flight at once.
func (p *Peak) Most() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

func (p *Peak) CreateAccount(ctx context.Context, o vpn.Owner, want vpn.State) (vpn.Account, error) {
	defer p.enter()()
	return p.Panel.CreateAccount(ctx, o, want)
}

func (p *Peak) Account(ctx context.Context, ref vpn.Ref) (vpn.Account, error) {
	defer p.enter()()
	return p.Panel.Account(ctx, ref)
}

func (p *Peak) SetAccount(ctx context.Context, ref vpn.Ref, want vpn.State) (vpn.Account, error) {
	defer p.enter()()
	return p.Panel.SetAccount(ctx, ref, want)
}

func (p *Peak) RotateAccount(ctx context.Context, ref vpn.Ref) (vpn.Account, error) {
	defer p.enter()()
	return p.Panel.RotateAccount(ctx, ref)
}

func (p *Peak) DeleteAccount(ctx context.Context, ref vpn.Ref) error {
	defer p.enter()()
	return p.Panel.DeleteAccount(ctx, ref)
}

func (p *Peak) Accounts(ctx context.Context, cursor string) (vpn.Page, error) {
	defer p.enter()()
	return p.Panel.Accounts(ctx, cursor)
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
