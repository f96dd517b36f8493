package vpn_test

import (
	"context"
	"errors"
	"strconv"
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

// The panel's answers and errors come back unchanged; Name needs no slot.
func TestLimitPassesAnswersThrough(t *testing.T) {
	t.Parallel()
	panel := newHeldPanel()
	close(panel.release)
	limited := vpn.Limit(panel, 0) // one slot at least: still usable
	require.Equal(t, "held", limited.Name())

	a, err := limited.Create(t.Context(), period(7))
	require.NoError(t, err)
	require.Equal(t, vpn.Access{ID: "held-7", URL: "ss://held-7"}, a)
	s, err := limited.Status(t.Context(), "held-7")
	require.NoError(t, err)
	require.Equal(t, vpn.StatusActive, s)
	as, err := limited.List(t.Context())
	require.NoError(t, err)
	require.Equal(t, []vpn.Access{{ID: "held-7"}}, as)
	require.ErrorIs(t, limited.Extend(t.Context(), "gone", time.Now()), vpn.ErrNotFound)
	require.ErrorIs(t, limited.Revoke(t.Context(), "down"), vpn.ErrUnavailable)
}

// allMethods calls each panel method of p.
func allMethods(p vpn.Provisioner) []func(context.Context) error {
	return []func(context.Context) error{
		func(ctx context.Context) error { _, err := p.Create(ctx, period(1)); return err },
		func(ctx context.Context) error { return p.Extend(ctx, "held-1", time.Now()) },
		func(ctx context.Context) error { return p.Revoke(ctx, "held-1") },
		func(ctx context.Context) error { _, err := p.Status(ctx, "held-1"); return err },
		func(ctx context.Context) error { _, err := p.List(ctx); return err },
	}
}

// heldPanel is a Provisioner whose requests each announce themselves on
// entered, then wait until release is closed.
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

func (p *heldPanel) Create(_ context.Context, period vpn.Period) (vpn.Access, error) {
	p.request()
	id := "held-" + strconv.FormatInt(period.SubscriptionID, 10)
	return vpn.Access{ID: id, URL: "ss://" + id}, nil
}

func (p *heldPanel) Extend(_ context.Context, accessID string, _ time.Time) error {
	p.request()
	if accessID == "gone" {
		return vpn.ErrNotFound
	}
	return nil
}

func (p *heldPanel) Revoke(_ context.Context, accessID string) error {
	p.request()
	if accessID == "down" {
		return errors.Join(errors.New("503"), vpn.ErrUnavailable)
	}
	return nil
}

func (p *heldPanel) Status(context.Context, string) (vpn.Status, error) {
	p.request()
	return vpn.StatusActive, nil
}

func (p *heldPanel) List(context.Context) ([]vpn.Access, error) {
	p.request()
	return []vpn.Access{{ID: "held-7"}}, nil
}

func (p *heldPanel) Name() string { return "held" }
