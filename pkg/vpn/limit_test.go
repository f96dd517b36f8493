package vpn_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// While calls requests are at the panel, every other request of every
// method waits (and gives up with its context) without reaching the panel;
// once they return, the waiting ones all go through.
func TestLimitMakesAtMostCallsRequestsAtOnce(t *testing.T) {
	t.Parallel()
	const calls, requests = 3, 12
	panel := newHeldPanel()
	peak := vpntest.NewPeak(panel)
	limited := vpn.Limit(peak, calls)
	methods := allMethods(limited)
	release := sync.OnceFunc(func() { close(panel.release) })
	t.Cleanup(release) // a failed test lets its requests end too

	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		wg.Go(func() { errs <- methods[i%len(methods)](t.Context()) })
	}
	for range calls {
		select {
		case <-panel.entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d requests reached the panel", calls)
		}
	}

	// All slots are held: a request whose context ends waits in vain.
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, m := range methods {
		err := m(canceled)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "waiting for a held call")
	}
	require.Equal(t, calls, panel.count(), "a request beyond the limit reached the panel")

	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, requests, panel.count())
	require.Equal(t, calls, peak.Most(), "more requests at the panel at once than the limit")
}

// The panel's answers and errors come back unchanged; Kind needs no slot.
func TestLimitPassesAnswersThrough(t *testing.T) {
	t.Parallel()
	panel := newHeldPanel()
	close(panel.release)
	limited := vpn.Limit(panel, 0) // one slot at least: still usable
	require.Equal(t, "held", limited.Kind())

	a, err := limited.CreateAccount(t.Context(), vpn.Owner{UserID: 7}, vpn.State{Enabled: true})
	require.NoError(t, err)
	require.Equal(t, held(7), a)
	got, err := limited.Account(t.Context(), a.Ref())
	require.NoError(t, err)
	require.Equal(t, held(7), got)
	page, err := limited.Accounts(t.Context(), "")
	require.NoError(t, err)
	require.Equal(t, vpn.Page{Accounts: []vpn.Account{held(7)}}, page)
	_, err = limited.SetAccount(t.Context(), vpn.Ref{Name: "gone"}, vpn.State{})
	require.ErrorIs(t, err, vpn.ErrNotFound)
	_, err = limited.RotateAccount(t.Context(), vpn.Ref{Name: "gone"})
	require.ErrorIs(t, err, vpn.ErrNotFound)
	require.ErrorIs(t, limited.DeleteAccount(t.Context(), vpn.Ref{Name: "down"}), vpn.ErrUnavailable)
}

// allMethods calls each panel method of p.
func allMethods(p vpn.Panel) []func(context.Context) error {
	ref := held(1).Ref()
	return []func(context.Context) error{
		func(ctx context.Context) error {
			_, err := p.CreateAccount(ctx, vpn.Owner{UserID: 1}, vpn.State{Enabled: true})
			return err
		},
		func(ctx context.Context) error { _, err := p.Account(ctx, ref); return err },
		func(ctx context.Context) error { _, err := p.SetAccount(ctx, ref, vpn.State{}); return err },
		func(ctx context.Context) error { _, err := p.RotateAccount(ctx, ref); return err },
		func(ctx context.Context) error { return p.DeleteAccount(ctx, ref) },
		func(ctx context.Context) error { _, err := p.Accounts(ctx, ""); return err },
	}
}

// held is the account heldPanel has for a user.
func held(userID int64) vpn.Account {
	name := vpn.AccountName("held", userID)
	return vpn.Account{Name: name, ID: name, URL: "ss://" + name, Enabled: true}
}

// heldPanel is a Panel whose requests each announce themselves on entered,
// then wait until release is closed. It has every user's account: "gone"
// is missing and "down" unreachable.
type heldPanel struct {
	entered chan struct{}
	release chan struct{}
	calls   atomic.Int64
}

func newHeldPanel() *heldPanel {
	return &heldPanel{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (p *heldPanel) request() {
	p.calls.Add(1)
	p.entered <- struct{}{}
	<-p.release
}

func (p *heldPanel) count() int { return int(p.calls.Load()) }

// answer is the account ref names, or its error.
func (p *heldPanel) answer(ref vpn.Ref) (vpn.Account, error) {
	p.request()
	switch ref.Name {
	case "gone":
		return vpn.Account{}, vpn.ErrNotFound
	case "down":
		return vpn.Account{}, errors.Join(errors.New("503"), vpn.ErrUnavailable)
	}
	id, _ := vpn.AccountUser("held", ref.Name)
	return held(id), nil
}

func (p *heldPanel) CreateAccount(_ context.Context, o vpn.Owner, _ vpn.State) (vpn.Account, error) {
	p.request()
	return held(o.UserID), nil
}

func (p *heldPanel) Account(_ context.Context, ref vpn.Ref) (vpn.Account, error) {
	return p.answer(ref)
}

func (p *heldPanel) SetAccount(_ context.Context, ref vpn.Ref, _ vpn.State) (vpn.Account, error) {
	return p.answer(ref)
}

func (p *heldPanel) RotateAccount(_ context.Context, ref vpn.Ref) (vpn.Account, error) {
	return p.answer(ref)
}

func (p *heldPanel) DeleteAccount(_ context.Context, ref vpn.Ref) error {
	_, err := p.answer(ref)
	return err
}

func (p *heldPanel) Accounts(context.Context, string) (vpn.Page, error) {
	p.request()
	return vpn.Page{Accounts: []vpn.Account{held(7)}}, nil
}

func (p *heldPanel) Kind() string { return "held" }

func (p *heldPanel) AccountName(userID int64) string { return vpn.AccountName("held", userID) }

func (p *heldPanel) Close() error { return nil }
