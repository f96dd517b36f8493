package activation_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

// Two panels of one location, one of them failing: the new trials get their
// keys from the healthy one within one iteration, nothing is placed on the
// failing one, and once it answers again placement follows the weights.
func TestNewTrialsGoToTheHealthyPanelWithinOneIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	other := vpntest.StartSandbox(t, vpn.KindRemnawave)
	fleet, err := vpn.NewFleet([]vpn.Panel{e.panel, other.Panel},
		[]vpn.MemberConfig{{Name: "a", Location: "eu", Weight: 1}, {Name: "b", Location: "eu", Weight: 1}},
		vpn.FleetOptions{Failover: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = fleet.Close() })
	in := &instance{logs: &obstest.LogBuffer{}, reg: prometheus.NewRegistry()}
	// One activation at a time, so that each placement sees the accounts of
	// the ones before it and the weights are followed exactly.
	in.a, err = activation.New(activation.Config{Concurrency: 1}, e.shop, e.db.Pool, e.js, fleet, obstest.NewLogger(in.logs), in.reg)
	require.NoError(t, err)

	e.fail(false)
	const trials = 4
	for range trials {
		e.trial(t, newUserID(), "en")
	}
	res := iterate(t, in)
	require.Equal(t, trials, res["created"], "every trial got its key in the first iteration")
	require.Equal(t, trials, res["delivered"])
	require.Zero(t, res["failed"])
	e.clearFaults()
	require.Zero(t, e.keys(), "nothing placed on the failing panel")
	require.Equal(t, trials, other.Accounts())
	a, _ := fleet.Member("a")
	since, _ := a.Down()
	require.False(t, since.IsZero(), "the failing panel is marked down")

	_, err = a.Accounts(t.Context(), "") // the panel answers again
	require.NoError(t, err)
	for range 2 * trials {
		e.trial(t, newUserID(), "en")
	}
	res = iterate(t, in)
	require.Equal(t, 2*trials, res["created"])
	// Equal weights: the recovered panel takes new users until it has as
	// many as the other, then they alternate.
	require.Equal(t, 6, e.keys())
	require.Equal(t, 6, other.Accounts())
}
