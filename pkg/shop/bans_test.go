package shop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// setBanned bans or unbans user as an admin's action does: banned_at only.
func (e *env) setBanned(t *testing.T, user int64, banned bool) {
	t.Helper()
	at := &time.Time{}
	*at = e.clock.Now()
	if !banned {
		at = nil
	}
	_, err := e.pool.Exec(t.Context(), `UPDATE users SET banned_at = $2 WHERE id = $1`, user, at)
	require.NoError(t, err)
}

func (e *env) suspensions(t *testing.T) []int64 {
	t.Helper()
	users, err := e.shop.PendingSuspensions(t.Context(), 100)
	require.NoError(t, err)
	return users
}

// suspendAll suspends every banned user PendingSuspensions lists.
func (e *env) suspendAll(t *testing.T, f *vpn.Fleet) {
	t.Helper()
	for _, u := range e.suspensions(t) {
		require.NoError(t, e.shop.Suspend(t.Context(), u, f))
	}
	require.Empty(t, e.suspensions(t))
}

func TestABanDisablesTheAccountAndAnUnbanRestoresTheLink(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		acc := e.activate(t, sub.ID, f)
		require.Empty(t, e.suspensions(t))

		e.setBanned(t, 1, true)
		require.Equal(t, []int64{1}, e.suspensions(t))
		e.suspendAll(t, f)
		requireAccount(t, sb, 1, acc.URL, false, sub.ExpiresAt)
		got := e.subscription(t, sub.ID)
		require.Equal(t, shop.StatusActive, got.Status, "a ban keeps the period")
		require.NotNil(t, got.Access.RevokedAt, "the access is off, as on the panel")
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM vpn_accounts WHERE suspended_at IS NOT NULL`))

		// Nothing turns it back on while the ban holds.
		require.Empty(t, e.pending(t))
		_, err := e.shop.Activate(t.Context(), sub.ID, f)
		require.ErrorIs(t, err, shop.ErrBanned)
		found, err := e.shop.RequestNewLink(t.Context(), 1)
		require.NoError(t, err)
		require.True(t, found)
		rotations, err := e.shop.PendingRotations(t.Context(), 10)
		require.NoError(t, err)
		require.Empty(t, rotations, "a banned user's new link waits for the unban")
		requireAccount(t, sb, 1, acc.URL, false, sub.ExpiresAt)

		e.setBanned(t, 1, false)
		require.Equal(t, []int64{sub.ID}, e.pending(t))
		again := e.activate(t, sub.ID, f)
		require.Equal(t, acc.URL, again.URL, "the user keeps their link")
		requireAccount(t, sb, 1, acc.URL, true, sub.ExpiresAt)
		require.Zero(t, e.count(t, `SELECT count(*) FROM vpn_accounts WHERE suspended_at IS NOT NULL`))
	})
}

// An activation at the panel when the ban comes leaves the account off,
// whichever of it and the suspension reaches the panel last: the
// activation re-checks the ban after its call, and the suspension lists
// the users whose access a racing activation recorded live. The rounds
// race the account's creation, its enabling after an unban, and (on panels
// that keep expiries) its extension after a payment.
func TestAnActivationRacingABanLeavesTheAccountDisabled(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		rounds := []string{"create", "enable after an unban"}
		if sb.Expires {
			rounds = append(rounds, "extend")
		}
		for _, round := range rounds {
			switch round {
			case "enable after an unban":
				e.setBanned(t, 1, false)
			case "extend":
				e.setBanned(t, 1, false)
				e.activate(t, sub.ID, f)
				_, err := e.pool.Exec(t.Context(), `UPDATE subscriptions SET expires_at = expires_at + interval '1 day' WHERE id = $1`, sub.ID)
				require.NoError(t, err)
			}
			calls := sb.Requests()
			sb.Fail(true)
			activated := make(chan error, 1)
			go func() {
				_, err := e.shop.Activate(t.Context(), sub.ID, f)
				activated <- err
			}()
			require.Eventually(t, func() bool { return sb.Requests() > calls }, 5*time.Second, 5*time.Millisecond)
			e.setBanned(t, 1, true)
			sb.Clear()
			require.ErrorIs(t, await(t, activated, "Activate"), shop.ErrBanned, round)
			e.suspendAll(t, f)
			if a, found := sb.Account(t, vpn.AccountName(vpn.DefaultNamePrefix, 1)); found {
				require.False(t, a.Enabled, "%s: a banned user's account was left working", round)
				require.False(t, sb.LinkWorks(a.URL), round)
			}
			require.Zero(t, e.count(t, `SELECT count(*) FROM vpn_accesses WHERE revoked_at IS NULL`), round)
		}
	})
}

func TestSuspensionsRacingAnUnbanLeaveTheAccountWorking(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		acc := e.activate(t, sub.ID, f)
		e.setBanned(t, 1, true)
		// Several replicas suspend at once; the unban lands among them.
		race(4, func(i int) {
			if i == 3 {
				e.setBanned(t, 1, false)
				return
			}
			require.NoError(t, e.shop.Suspend(t.Context(), 1, f))
		})
		for _, id := range e.pending(t) {
			e.activate(t, id, f)
		}
		requireAccount(t, sb, 1, acc.URL, true, sub.ExpiresAt)
		require.Empty(t, e.suspensions(t))
	})
}

func TestReconciliationDisablesABannedUsersAccount(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		acc := e.activate(t, sub.ID, f)
		e.setBanned(t, 1, true)
		rec, err := e.shop.UserAccount(t.Context(), 1)
		require.NoError(t, err)
		m, _ := f.Member(rec.Panel)
		// DisableAccount is what reconciliation calls for an account no
		// period pays for: a banned user's period pays for nothing.
		require.NoError(t, e.shop.DisableAccount(t.Context(), 1, rec.Ref(), sub.ExpiresAt, m))
		requireAccount(t, sb, 1, acc.URL, false, sub.ExpiresAt)
	})
}
