package cleanup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/clocktest"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/ssconf"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/cleanup"
)

// drifts counts the repairs of one kind of drift in the metric.
func drifts(t *testing.T, in *instance, kind, drift string) int {
	t.Helper()
	v, _ := obstest.Metric(t, in.reg, "vpnbot_panel_drift_repaired_total", map[string]string{"panel": kind, "drift": drift})
	return int(v)
}

// Accounts changed behind the bot's back (deleted, disabled, given another
// expiry, enabled with nothing paying for them, made and never recorded)
// are each repaired by one reconciliation pass, once the unbacked ones have
// been seen so for the minimum age; each repair is counted and logged once.
func TestReconciliationRepairsDriftBothWays(t *testing.T) {
	t.Parallel()
	for _, kind := range vpntest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			gone, disabled, moved, intact := e.activeKey(t, "en"), e.activeKey(t, "en"), e.activeKey(t, "en"), e.activeKey(t, "en")
			require.True(t, e.sb.DriftDelete(gone.Access.Name))
			require.True(t, e.sb.DriftDisable(disabled.Access.Name))
			require.True(t, e.sb.DriftExpiry(moved.Access.Name, time.Now().Add(time.Hour)))

			// A user whose period ended, whose account an operator
			// enabled again on the panel.
			unpaid := e.expire(t, e.activeKey(t, "en").ID, 2*time.Hour)
			require.NoError(t, e.shop.Revoke(t.Context(), unpaid.ID, e.fleet(t, 0)))
			_, err := e.sb.Panel.SetAccount(t.Context(), vpn.Ref{Name: unpaid.Access.Name},
				vpn.State{Enabled: true, ExpiresAt: time.Now().Add(24 * time.Hour)})
			require.NoError(t, err)
			require.True(t, e.onPanel(t, e.sub(t, unpaid.ID)))
			// An account made for a user the database does not know.
			orphan, err := e.sb.Panel.CreateAccount(t.Context(), vpn.Owner{UserID: 987654},
				vpn.State{Enabled: true, ExpiresAt: time.Now().Add(24 * time.Hour)})
			require.NoError(t, err)

			clk := clocktest.New(time.Now().Add(time.Second))
			in := e.instance(t, cleanup.Config{ReconcileEvery: 1, OrphanMinAge: time.Minute, NowFunc: clk.Now})
			res := iterateOK(t, in)
			wantExpiry := 0
			if e.sb.Expires {
				wantExpiry = 1
			}
			require.Equal(t, 2+wantExpiry, res[cleanup.ItemDriftRepaired], "the paid-for accounts are repaired at once")
			require.Equal(t, 2, res[cleanup.ItemOrphansWaiting], "the unbacked ones wait out the minimum age")
			require.Equal(t, 1, drifts(t, in, kind, cleanup.DriftMissing))
			require.Equal(t, 1, drifts(t, in, kind, cleanup.DriftDisabled))
			require.Equal(t, wantExpiry, drifts(t, in, kind, cleanup.DriftExpiry))
			for _, s := range []shop.Subscription{gone, disabled, moved, intact} {
				got := e.sub(t, s.ID)
				require.True(t, e.onPanel(t, got), "subscription %d's account does not work", s.ID)
				a, _ := e.sb.Account(t, got.Access.Name)
				if e.sb.Expires {
					require.True(t, got.ExpiresAt.Equal(a.ExpiresAt.Truncate(time.Second)),
						"subscription %d: panel expiry %s, period %s", s.ID, a.ExpiresAt, got.ExpiresAt)
				}
			}
			require.True(t, e.onPanel(t, e.sub(t, unpaid.ID)), "not yet: it waits")

			clk.Advance(2 * time.Minute)
			res = iterateOK(t, in)
			require.Equal(t, 2, res[cleanup.ItemDriftRepaired])
			require.Equal(t, 1, res[cleanup.ItemOrphansRevoked])
			require.Zero(t, res[cleanup.ItemOrphansWaiting])
			require.False(t, e.onPanel(t, e.sub(t, unpaid.ID)), "an account nothing pays for was left working")
			_, found := e.sb.Account(t, orphan.Name)
			require.False(t, found, "the orphan is still on the panel")
			require.Equal(t, 1, drifts(t, in, kind, cleanup.DriftUnpaid))
			require.Equal(t, 1, drifts(t, in, kind, cleanup.DriftOrphan))
			require.Zero(t, metric(t, in, "vpnbot_expiry_orphans_unbacked"))

			res = iterateOK(t, in)
			require.Zero(t, res[cleanup.ItemDriftRepaired], "a repaired panel needs nothing more")
			events := in.logs.Events(t, cleanup.EventPanelDriftRepaired)
			require.Len(t, events, 4+wantExpiry, "one PANEL_DRIFT_REPAIRED per repair")
			for _, ev := range events {
				require.Equal(t, kind, ev["panel"])
				require.NotEmpty(t, ev["account"])
			}
			require.NotContains(t, in.logs.String(), intact.Access.URL, "links are credentials: not logged")
		})
	}
}

// Reconciliation leaves alone what activation owns: an account made but not
// yet recorded waits out the minimum age, and is kept once its period's
// access is recorded.
func TestReconciliationKeepsAnAccountActivationIsRecording(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindRemnawave)
	inflight := e.trialWithoutKey(t)
	_, err := e.sb.Panel.CreateAccount(t.Context(), vpn.Owner{UserID: inflight.UserID},
		vpn.State{Enabled: true, ExpiresAt: inflight.ExpiresAt})
	require.NoError(t, err)

	clk := clocktest.New(time.Now().Add(time.Second))
	in := e.instance(t, cleanup.Config{ReconcileEvery: 1, OrphanMinAge: time.Minute, NowFunc: clk.Now})
	res := iterateOK(t, in)
	require.Equal(t, 1, res[cleanup.ItemOrphansWaiting])
	require.EqualValues(t, 1, metric(t, in, "vpnbot_expiry_orphans_unbacked"))

	_, err = e.shop.Activate(t.Context(), inflight.ID, e.fleet(t, 0)) // activation adopts and records it
	require.NoError(t, err)
	clk.Advance(2 * time.Minute)
	res = iterateOK(t, in)
	require.Zero(t, res[cleanup.ItemOrphansRevoked]+res[cleanup.ItemDriftRepaired]+res[cleanup.ItemOrphansWaiting])
	require.True(t, e.onPanel(t, e.sub(t, inflight.ID)))
	require.Equal(t, 1, e.sb.Accounts())
}

// A failing panel fails the reconciliation, counted against the panel, and
// changes nothing.
func TestReconciliationWithThePanelDownFailsAndChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindMarzban)
	sub := e.activeKey(t, "en")
	require.True(t, e.sb.DriftDisable(sub.Access.Name))
	in := e.instance(t, cleanup.Config{ReconcileEvery: 1})
	e.sb.Fail(false)
	_, err := iterate(t, in)
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.ErrorContains(t, err, "reconciling marzban")
	v, _ := obstest.Metric(t, in.reg, "vpnbot_expiry_panel_errors_total", map[string]string{"panel": vpn.KindMarzban})
	require.EqualValues(t, 1, v)
	e.sb.Clear()
	require.False(t, e.onPanel(t, e.sub(t, sub.ID)))
	res := iterateOK(t, in)
	require.Equal(t, 1, res[cleanup.ItemDriftRepaired])
	require.True(t, e.onPanel(t, e.sub(t, sub.ID)))
}

// A link changed on the panel (an operator revoked the subscription there)
// is recorded, so that the bot shows the link that works.
func TestReconciliationRecordsALinkChangedOnThePanel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindRemnawave)
	sub := e.activeKey(t, "en")
	rotated, err := e.sb.Panel.RotateAccount(t.Context(), vpn.Ref{Name: sub.Access.Name})
	require.NoError(t, err)
	require.False(t, e.sb.LinkWorks(sub.Access.URL))

	in := e.instance(t, cleanup.Config{ReconcileEvery: 1})
	res := iterateOK(t, in)
	require.Equal(t, 1, res[cleanup.ItemDriftRepaired])
	require.Equal(t, 1, drifts(t, in, vpn.KindRemnawave, cleanup.DriftLink))
	got := e.sub(t, sub.ID)
	require.Equal(t, rotated.URL, got.Access.URL)
	require.True(t, e.onPanel(t, got))
	rec, err := e.shop.UserAccount(t.Context(), sub.UserID)
	require.NoError(t, err)
	require.Equal(t, rotated.URL, rec.URL)
	require.Zero(t, iterateOK(t, in)[cleanup.ItemDriftRepaired])
}

// With dynamic keys, an Outline key changed on the panel is recorded on the
// account, which the key server answers with, while the user's link stays
// the dynamic key they imported.
func TestReconciliationKeepsTheDynamicKeyOfAnOutlineUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	e.shop = shop.New(e.db.Pool, shop.Config{DynamicKeys: ssconf.Settings{URL: "https://keys.example", Label: "VPN"}})
	sub := e.activeKey(t, "en")
	dynamic := sub.Access.URL
	require.True(t, strings.HasPrefix(dynamic, "ssconf://keys.example/"), dynamic)
	rotated, err := e.sb.Panel.RotateAccount(t.Context(), vpn.Ref{Name: sub.Access.Name})
	require.NoError(t, err)

	in := e.instance(t, cleanup.Config{ReconcileEvery: 1})
	require.Equal(t, 1, iterateOK(t, in)[cleanup.ItemDriftRepaired])
	require.Equal(t, 1, drifts(t, in, vpn.KindOutline, cleanup.DriftLink))
	rec, err := e.shop.UserAccount(t.Context(), sub.UserID)
	require.NoError(t, err)
	require.Equal(t, rotated.URL, rec.URL, "the key server answers with the panel's new key")
	require.Equal(t, dynamic, e.sub(t, sub.ID).Access.URL, "the user's link is still their dynamic key")
	require.Zero(t, iterateOK(t, in)[cleanup.ItemDriftRepaired])
}

// A banned user's period pays for nothing: an account of theirs working on
// the panel (the ban not yet applied, or the account enabled by hand) is
// disabled as an unpaid one is, and never enabled as a paid-for one.
func TestReconciliationDisablesABannedUsersAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindRemnawave)
	banned := e.activeKey(t, "en")
	_, err := e.db.Pool.Exec(t.Context(), `UPDATE users SET banned_at = now() WHERE id = $1`, banned.UserID)
	require.NoError(t, err)

	clk := clocktest.New(time.Now().Add(time.Second))
	in := e.instance(t, cleanup.Config{ReconcileEvery: 1, OrphanMinAge: time.Minute, NowFunc: clk.Now})
	res := iterateOK(t, in)
	require.Equal(t, 1, res[cleanup.ItemOrphansWaiting], "it waits out the minimum age, as any unbacked account")
	clk.Advance(2 * time.Minute)
	iterateOK(t, in)
	require.Equal(t, 1, drifts(t, in, vpn.KindRemnawave, cleanup.DriftUnpaid))
	require.False(t, e.onPanel(t, e.sub(t, banned.ID)), "a banned user's account was left working")

	// Disabled by hand the other way: reconciliation does not enable it.
	require.True(t, e.sb.DriftDisable(banned.Access.Name))
	iterateOK(t, in)
	a, _ := e.sb.Account(t, banned.Access.Name)
	require.False(t, a.Enabled)
}
