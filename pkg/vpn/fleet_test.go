package vpn_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/vpn"
)

func fleet(t *testing.T, failover bool, cfgs ...vpn.MemberConfig) *vpn.Fleet {
	t.Helper()
	panels := make([]vpn.Panel, len(cfgs))
	for i := range cfgs {
		p := newHeldPanel()
		close(p.release)
		panels[i] = p
	}
	f, err := vpn.NewFleet(panels, cfgs, vpn.FleetOptions{Failover: failover})
	require.NoError(t, err)
	return f
}

// placeMany places n users one by one, as activation does, and returns how
// many each panel got.
func placeMany(t *testing.T, f *vpn.Fleet, location string, n int, accounts map[string]int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		m, err := f.Place(location, accounts)
		require.NoError(t, err)
		accounts[m.Name()]++
		got[m.Name()]++
	}
	return got
}

func TestPlacementFollowsWeightsWithinTheLocation(t *testing.T) {
	t.Parallel()
	f := fleet(t, true,
		vpn.MemberConfig{Name: "ams-1", Location: "Amsterdam", Weight: 2},
		vpn.MemberConfig{Name: "ams-2", Location: "Amsterdam"},
		vpn.MemberConfig{Name: "fra-1", Location: "Frankfurt", Weight: 5})
	require.Equal(t, []string{"Amsterdam", "Frankfurt"}, f.Locations())

	got := placeMany(t, f, "Amsterdam", 300, map[string]int{})
	require.Equal(t, map[string]int{"ams-1": 200, "ams-2": 100}, got)

	// Existing accounts count: a panel added later catches up first.
	got = placeMany(t, f, "Amsterdam", 30, map[string]int{"ams-1": 100, "ams-2": 0})
	require.Equal(t, map[string]int{"ams-2": 30}, got)

	got = placeMany(t, f, "", 80, map[string]int{})
	require.Equal(t, map[string]int{"ams-1": 20, "ams-2": 10, "fra-1": 50}, got)
}

func TestPlacementSkipsFullPanels(t *testing.T) {
	t.Parallel()
	f := fleet(t, true,
		vpn.MemberConfig{Name: "a", Location: "x", Capacity: 3},
		vpn.MemberConfig{Name: "b", Location: "x", Capacity: 2})
	got := placeMany(t, f, "x", 5, map[string]int{})
	require.Equal(t, map[string]int{"a": 3, "b": 2}, got)
	_, err := f.Place("x", map[string]int{"a": 3, "b": 2})
	require.ErrorIs(t, err, vpn.ErrNoPanel)
	_, err = f.Place("nowhere", map[string]int{})
	require.ErrorIs(t, err, vpn.ErrNoPanel)
}

// A panel that fails is passed over for new users while it is down, and
// gets its share again once it answers.
func TestPlacementFailsOverWhileAPanelIsDown(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, failover := range []bool{true, false} {
		t.Run(fmt.Sprint("failover=", failover), func(t *testing.T) {
			t.Parallel()
			f := fleet(t, failover, vpn.MemberConfig{Name: "a", Location: "x"}, vpn.MemberConfig{Name: "b", Location: "x"})
			a, _ := f.Member("a")
			down := func() {
				_, err := a.Account(t.Context(), vpn.Ref{Name: "down"})
				require.ErrorIs(t, err, vpn.ErrUnavailable)
			}
			down()
			since, err := a.Down()
			require.False(t, since.Before(now), "down since the failed call")
			require.ErrorIs(t, err, vpn.ErrUnavailable)
			_, err = a.Account(t.Context(), vpn.Ref{Name: "gone"}) // an answer: the panel is up
			require.ErrorIs(t, err, vpn.ErrNotFound)
			since, _ = a.Down()
			require.True(t, since.IsZero())
			down()

			accounts := map[string]int{}
			if failover {
				require.Equal(t, map[string]int{"b": 4}, placeMany(t, f, "x", 4, accounts))
			} else {
				m, err := f.Place("x", accounts)
				require.NoError(t, err)
				require.Equal(t, "a", m.Name(), "without failover the user waits for the panel whose turn it is")
			}
			_, err = a.Account(t.Context(), held(1).Ref())
			require.NoError(t, err)
			got := placeMany(t, f, "x", 6, accounts)
			if failover {
				require.Equal(t, map[string]int{"a": 5, "b": 1}, got, "the recovered panel catches up")
			} else {
				require.Equal(t, map[string]int{"a": 3, "b": 3}, got)
			}
		})
	}
}

// A user who chose a location is placed there; elsewhere only when it is
// full, or down with failover: a working key in another location rather
// than none, or than waiting.
func TestPlacementForAUsersLocation(t *testing.T) {
	t.Parallel()
	for _, failover := range []bool{true, false} {
		t.Run(fmt.Sprint("failover=", failover), func(t *testing.T) {
			t.Parallel()
			f := fleet(t, failover,
				vpn.MemberConfig{Name: "ams-1", Location: "Amsterdam", Weight: 9},
				vpn.MemberConfig{Name: "fra-1", Location: "Frankfurt", Capacity: 2})
			place := func(location string, accounts map[string]int) string {
				t.Helper()
				m, err := f.PlaceFor(location, accounts)
				require.NoError(t, err)
				return m.Name()
			}
			require.Equal(t, "fra-1", place("Frankfurt", map[string]int{}), "the chosen location, against the weights")
			require.Equal(t, "ams-1", place("", map[string]int{}), "no preference: by weight")
			require.Equal(t, "ams-1", place("Paris", map[string]int{}), "a location no longer offered: by weight")
			require.Equal(t, "ams-1", place("Frankfurt", map[string]int{"fra-1": 2}), "the location is full")

			fra, _ := f.Member("fra-1")
			_, err := fra.Account(t.Context(), vpn.Ref{Name: "down"})
			require.ErrorIs(t, err, vpn.ErrUnavailable)
			if failover {
				require.Equal(t, "ams-1", place("Frankfurt", map[string]int{}), "the location is down")
			} else {
				require.Equal(t, "fra-1", place("Frankfurt", map[string]int{}), "without failover the user waits for it")
			}
			ams, _ := f.Member("ams-1")
			_, err = ams.Account(t.Context(), vpn.Ref{Name: "down"})
			require.ErrorIs(t, err, vpn.ErrUnavailable)
			require.Equal(t, "fra-1", place("Frankfurt", map[string]int{}), "every panel down: the chosen one is tried")
		})
	}
}

func TestFleetRejectsBadSettings(t *testing.T) {
	t.Parallel()
	p := []vpn.Panel{newHeldPanel(), newHeldPanel()}
	for _, tc := range []struct {
		cfgs [2]vpn.MemberConfig
		want string
	}{
		{[2]vpn.MemberConfig{{Name: "a"}, {Name: "a"}}, "used twice"},
		{[2]vpn.MemberConfig{{Name: "a b"}, {Name: "c"}}, `name "a b"`},
		{[2]vpn.MemberConfig{{Name: "a", Weight: -1}, {Name: "c"}}, "must not be negative"},
		{[2]vpn.MemberConfig{{Name: "a"}, {Name: "c", Capacity: -2}}, "must not be negative"},
	} {
		_, err := vpn.NewFleet(p, tc.cfgs[:], vpn.FleetOptions{})
		require.ErrorContains(t, err, tc.want)
	}
	_, err := vpn.NewFleet(nil, nil, vpn.FleetOptions{})
	require.ErrorContains(t, err, "at least one panel")
}

// Every call is timed and told to the observer, and a failure names its
// panel.
func TestMemberCallsAreObservedAndNameThePanel(t *testing.T) {
	t.Parallel()
	p := newHeldPanel()
	close(p.release)
	type seen struct {
		panel, method string
		failed        bool
	}
	var calls []seen
	f, err := vpn.NewFleet([]vpn.Panel{p}, []vpn.MemberConfig{{Name: "ams-1"}}, vpn.FleetOptions{
		Observe: func(panel, method string, took time.Duration, err error) {
			require.GreaterOrEqual(t, took, time.Duration(0))
			calls = append(calls, seen{panel, method, err != nil})
		}})
	require.NoError(t, err)
	m, _ := f.Member("ams-1")
	require.Equal(t, "held", m.Kind())
	_, err = m.CreateAccount(t.Context(), vpn.Owner{UserID: 3}, vpn.State{Enabled: true})
	require.NoError(t, err)
	err = m.DeleteAccount(t.Context(), vpn.Ref{Name: "down"})
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.Equal(t, "ams-1", vpn.PanelOf(err))
	require.ErrorContains(t, err, "ams-1: ")
	require.Empty(t, vpn.PanelOf(errors.New("database down")))
	require.Equal(t, []seen{{"ams-1", "CreateAccount", false}, {"ams-1", "DeleteAccount", true}}, calls)
	require.NoError(t, f.Close())
}

// A down panel is tried again for a new user once its probe is due, and
// when every panel is down the best one is tried anyway: nothing waits for
// a panel that nothing calls.
func TestADownPanelIsProbed(t *testing.T) {
	t.Parallel()
	panels := []vpn.Panel{newHeldPanel(), newHeldPanel()}
	for _, p := range panels {
		close(p.(*heldPanel).release)
	}
	f, err := vpn.NewFleet(panels, []vpn.MemberConfig{{Name: "a"}, {Name: "b"}},
		vpn.FleetOptions{Failover: true, ProbeAfter: 20 * time.Millisecond})
	require.NoError(t, err)
	a, _ := f.Member("a")
	b, _ := f.Member("b")
	for _, m := range []*vpn.Member{a, b} {
		_, err := m.Account(t.Context(), vpn.Ref{Name: "down"})
		require.ErrorIs(t, err, vpn.ErrUnavailable)
	}
	m, err := f.Place("", map[string]int{"a": 1})
	require.NoError(t, err)
	require.Equal(t, "b", m.Name(), "all down: the best is tried anyway")

	_, err = b.Account(t.Context(), held(1).Ref())
	require.NoError(t, err)
	m, err = f.Place("", map[string]int{"b": 5})
	require.NoError(t, err)
	require.Equal(t, "b", m.Name(), "a is passed over while its probe is not due")
	require.Eventually(t, func() bool {
		m, err := f.Place("", map[string]int{"b": 5})
		return err == nil && m.Name() == "a"
	}, 5*time.Second, 5*time.Millisecond, "the down panel was never probed")
}
