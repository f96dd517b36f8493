package vpn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ErrNoPanel means no panel can take a new account now: every panel of the
// location is down or full. Retry later.
var ErrNoPanel = errors.New("no VPN panel can take a new account")

// Member is one panel of a Fleet: its adapter, the name its accounts are
// recorded under, and how new users are placed on it. Its calls pass to the
// adapter, each timed and its outcome reported to the fleet's Observer, the
// panel marked down or up by it (Down), and its errors wrapped in a
// *PanelError that names the panel.
type Member struct {
	panel    Panel
	observe  Observer
	name     string
	location string
	weight   int
	capacity int

	mu        sync.Mutex
	downSince time.Time // zero while the panel answers
	lastErr   error
	probeAt   time.Time // when a down panel may be tried again for a new user
	probe     time.Duration
}

// Name is the panel's name, as recorded with its accounts.
func (m *Member) Name() string { return m.name }

// Location is the label users choose the panel's location by.
func (m *Member) Location() string { return m.location }

// Weight is the panel's share of new users against the others of its
// location.
func (m *Member) Weight() int { return m.weight }

// Capacity is how many accounts the panel takes; 0 is unbounded.
func (m *Member) Capacity() int { return m.capacity }

// Kind is the adapter's kind.
func (m *Member) Kind() string { return m.panel.Kind() }

// AccountName is the name the panel's CreateAccount gives the user's account.
func (m *Member) AccountName(userID int64) string { return m.panel.AccountName(userID) }

// Observer is told of every call to a fleet's panels: the panel's name, the
// method (CreateAccount, ...), how long it took and its error; for metrics.
type Observer func(panel, method string, took time.Duration, err error)

// PanelError is a failed call to one panel of a fleet.
type PanelError struct {
	Panel  string
	Method string
	Err    error
}

func (e *PanelError) Error() string { return e.Panel + ": " + e.Err.Error() }

func (e *PanelError) Unwrap() error { return e.Err }

// PanelOf returns the name of the panel whose call err comes from; "" when
// it comes from none.
func PanelOf(err error) string {
	var pe *PanelError
	if errors.As(err, &pe) {
		return pe.Panel
	}
	return ""
}

// call runs one call to the panel, timing it and recording its outcome.
func call[T any](m *Member, method string, fn func() (T, error)) (T, error) {
	start := time.Now()
	v, err := fn()
	took := time.Since(start)
	m.observeHealth(err, start.Add(took))
	if m.observe != nil {
		m.observe(m.name, method, took, err)
	}
	if err != nil {
		return v, &PanelError{Panel: m.name, Method: method, Err: err}
	}
	return v, nil
}

// CreateAccount passes to the adapter (Panel.CreateAccount).
func (m *Member) CreateAccount(ctx context.Context, o Owner, want State) (Account, error) {
	return call(m, "CreateAccount", func() (Account, error) { return m.panel.CreateAccount(ctx, o, want) })
}

// Account passes to the adapter (Panel.Account).
func (m *Member) Account(ctx context.Context, ref Ref) (Account, error) {
	return call(m, "Account", func() (Account, error) { return m.panel.Account(ctx, ref) })
}

// SetAccount passes to the adapter (Panel.SetAccount).
func (m *Member) SetAccount(ctx context.Context, ref Ref, want State) (Account, error) {
	return call(m, "SetAccount", func() (Account, error) { return m.panel.SetAccount(ctx, ref, want) })
}

// RotateAccount passes to the adapter (Panel.RotateAccount).
func (m *Member) RotateAccount(ctx context.Context, ref Ref) (Account, error) {
	return call(m, "RotateAccount", func() (Account, error) { return m.panel.RotateAccount(ctx, ref) })
}

// DeleteAccount passes to the adapter (Panel.DeleteAccount).
func (m *Member) DeleteAccount(ctx context.Context, ref Ref) error {
	_, err := call(m, "DeleteAccount", func() (struct{}, error) { return struct{}{}, m.panel.DeleteAccount(ctx, ref) })
	return err
}

// Accounts passes to the adapter (Panel.Accounts).
func (m *Member) Accounts(ctx context.Context, cursor string) (Page, error) {
	return call(m, "Accounts", func() (Page, error) { return m.panel.Accounts(ctx, cursor) })
}

// observeHealth records the outcome of a call to the panel: a failure of
// the panel itself (unreachable, 5xx, too slow, refusing us) marks it down,
// any answer marks it up. Errors about one account (ErrNotFound) or the
// caller's context say nothing of the panel's health.
func (m *Member) observeHealth(err error, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err == nil || errors.Is(err, ErrNotFound):
		m.downSince, m.lastErr = time.Time{}, nil
	case errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrUntrustedCertificate):
		if m.downSince.IsZero() {
			m.downSince = now
		}
		m.lastErr = err
		m.probeAt = now.Add(m.probe)
	}
}

// passedOver reports whether placement passes the panel over at now: it is
// down, and not yet due for a probe (a new user placed on it to see whether
// it is back).
func (m *Member) passedOver(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.downSince.IsZero() && now.Before(m.probeAt)
}

// Down reports since when the panel has failed, and how it last failed;
// zero while it answers.
func (m *Member) Down() (since time.Time, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.downSince, m.lastErr
}

// MemberConfig is how a Fleet places users on one panel.
type MemberConfig struct {
	// Name is recorded with the panel's accounts; unique in the fleet.
	Name string
	// Location groups panels: a user placed in a location stays on its
	// panels, and a down panel's new users go to another of its location.
	Location string
	// Weight is the panel's share of its location's new users (default 1).
	Weight int
	// Capacity bounds the panel's accounts; 0 is unbounded.
	Capacity int
}

// DefaultProbeAfter is how long a panel that failed is passed over for new
// users, when FleetOptions leaves it zero.
const DefaultProbeAfter = 30 * time.Second

// FleetOptions is how a fleet treats a failing panel.
type FleetOptions struct {
	// Failover places new users on another panel of the location while
	// the one whose turn it is is down, instead of letting them wait for
	// it. A down panel is tried again for a new user ProbeAfter after its
	// last failure, which is how it is seen to be back when nothing else
	// calls it.
	Failover   bool
	ProbeAfter time.Duration
	// Observe, if not nil, is told of every call.
	Observe Observer
}

// Fleet is the panels a bot places its users on.
type Fleet struct {
	members  []*Member
	failover bool
}

// NewFleet returns the fleet of panels, each with its placement settings
// (cfgs[i] for panels[i]).
func NewFleet(panels []Panel, cfgs []MemberConfig, opts FleetOptions) (*Fleet, error) {
	if len(panels) == 0 || len(panels) != len(cfgs) {
		return nil, fmt.Errorf("a fleet needs at least one panel and one setting per panel (%d panels, %d settings)", len(panels), len(cfgs))
	}
	if opts.ProbeAfter <= 0 {
		opts.ProbeAfter = DefaultProbeAfter
	}
	f := &Fleet{failover: opts.Failover}
	for i, p := range panels {
		c := cfgs[i]
		if c.Name == "" || !prefixPattern.MatchString(c.Name) {
			return nil, fmt.Errorf("panel %d: name %q: want letters, digits, '_' or '-'", i+1, c.Name)
		}
		if _, dup := f.Member(c.Name); dup {
			return nil, fmt.Errorf("panel %d: name %q is used twice", i+1, c.Name)
		}
		if c.Weight < 0 || c.Capacity < 0 {
			return nil, fmt.Errorf("panel %s: weight and capacity must not be negative", c.Name)
		}
		if c.Weight == 0 {
			c.Weight = 1
		}
		f.members = append(f.members, &Member{panel: p, observe: opts.Observe, probe: opts.ProbeAfter, name: c.Name, location: c.Location, weight: c.Weight, capacity: c.Capacity})
	}
	return f, nil
}

// Members returns the fleet's panels in their configured order.
func (f *Fleet) Members() []*Member { return slices.Clone(f.members) }

// Member returns the panel of the name.
func (f *Fleet) Member(name string) (*Member, bool) {
	for _, m := range f.members {
		if m.name == name {
			return m, true
		}
	}
	return nil, false
}

// Locations returns the distinct locations, in configured order.
func (f *Fleet) Locations() []string {
	var out []string
	for _, m := range f.members {
		if !slices.Contains(out, m.location) {
			out = append(out, m.location)
		}
	}
	return out
}

// Place chooses the panel for a new user's account: among the panels of
// location (any location when empty) with room left, the one with the
// fewest accounts for its weight (accounts holds each panel's count by
// name), so that placement follows the weights. With failover, a panel that
// is down is passed over until its probe is due, unless every panel with
// room is: then the best of them is tried anyway. Without failover, health
// is not looked at: the user waits for the panel whose turn it is.
// ErrNoPanel when none has room.
func (f *Fleet) Place(location string, accounts map[string]int) (*Member, error) {
	now := time.Now()
	var best, bestDown *Member
	for _, m := range f.members {
		if location != "" && m.location != location {
			continue
		}
		n := accounts[m.name]
		if m.capacity > 0 && n >= m.capacity {
			continue
		}
		// n/weight < best/bestWeight, without division.
		fewer := func(b *Member) bool { return b == nil || n*b.weight < accounts[b.name]*m.weight }
		if f.failover && m.passedOver(now) {
			if fewer(bestDown) {
				bestDown = m
			}
			continue
		}
		if fewer(best) {
			best = m
		}
	}
	if best == nil {
		best = bestDown
	}
	if best == nil {
		return nil, fmt.Errorf("placing a new account in location %q: %w", location, ErrNoPanel)
	}
	return best, nil
}

// PlaceFor chooses the panel for the new account of a user who chose
// location ("" for no preference, or one the fleet no longer offers:
// anywhere). It places as Place in that location, and in the whole fleet
// when the location cannot take the user: every panel of it is full, or,
// with failover, down (Place would try one anyway) while another location
// has a panel up. A user gets a working key elsewhere rather than none.
func (f *Fleet) PlaceFor(location string, accounts map[string]int) (*Member, error) {
	if location == "" || !slices.Contains(f.Locations(), location) {
		return f.Place("", accounts)
	}
	m, err := f.Place(location, accounts)
	if errors.Is(err, ErrNoPanel) {
		return f.Place("", accounts)
	}
	if err != nil || !f.failover || !m.passedOver(time.Now()) {
		return m, err
	}
	if other, err := f.Place("", accounts); err == nil && !other.passedOver(time.Now()) {
		return other, nil
	}
	return m, nil
}

// Close closes every panel.
func (f *Fleet) Close() error {
	var errs []error
	for _, m := range f.members {
		errs = append(errs, m.panel.Close())
	}
	return errors.Join(errs...)
}
