package shop_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// activate activates period subID on the fleet, which must succeed.
func (e *env) activate(t *testing.T, subID int64, f *vpn.Fleet) shop.Access {
	t.Helper()
	acc, err := e.shop.Activate(t.Context(), subID, f)
	require.NoError(t, err)
	return acc
}

func (e *env) pending(t *testing.T) []int64 {
	t.Helper()
	subs, err := e.shop.PendingActivations(t.Context(), 100)
	require.NoError(t, err)
	var ids []int64
	for _, s := range subs {
		ids = append(ids, s.ID)
	}
	return ids
}

// endPeriod moves the clock past sub's end and the grace, so that it is due
// for revocation.
func (e *env) endPeriod(t *testing.T, sub shop.Subscription) {
	t.Helper()
	e.clock.Advance(e.subscription(t, sub.ID).ExpiresAt.Sub(e.clock.Now()) + grace)
	due, err := e.shop.ExpiredUnrevoked(t.Context(), grace, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, sub.ID, due[0].ID)
}

const grace = 24 * time.Hour

// await returns what ch yields, failing the test if what has not returned
// within 10 s.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	var v T
	select {
	case v = <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
	return v
}

// requireAccount checks the account of user on the panel: enabled or not,
// expiring at expires where the panel keeps expiries, its link working only
// while enabled.
func requireAccount(t *testing.T, sb *vpntest.Sandbox, user int64, url string, enabled bool, expires time.Time) {
	t.Helper()
	a, found := sb.Account(t, vpn.AccountName(vpn.DefaultNamePrefix, user))
	require.True(t, found, "user %d has no account on the panel", user)
	require.Equal(t, enabled, a.Enabled, "the account's enabled flag")
	require.Equal(t, url, a.URL, "the account's link")
	if sb.Expires && enabled {
		require.True(t, expires.Truncate(time.Second).Equal(a.ExpiresAt.Truncate(time.Second)),
			"panel expiry %s, period %s", a.ExpiresAt, expires)
	}
	require.Equal(t, enabled, sb.LinkWorks(url), "the link works while the account is enabled, only")
}

func TestActivateEnablesTheUsersAccount(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		require.Equal(t, []int64{sub.ID}, e.pending(t))

		acc := e.activate(t, sub.ID, f)
		require.Equal(t, sb.Kind, acc.Panel)
		require.Equal(t, vpn.AccountName(vpn.DefaultNamePrefix, 1), acc.Name)
		require.NotEmpty(t, acc.ExternalID)
		require.NotEmpty(t, acc.URL)
		require.Nil(t, acc.RevokedAt)
		requireAccount(t, sb, 1, acc.URL, true, sub.ExpiresAt)
		if sb.Expires {
			require.True(t, sub.ExpiresAt.Truncate(time.Second).Equal(acc.ExpiresAt.Truncate(time.Second)))
		} else {
			require.Nil(t, acc.ExpiresAt, "outline keys do not expire")
		}
		got := e.subscription(t, sub.ID)
		require.Equal(t, &acc, got.Access)
		require.Empty(t, e.pending(t))
		rec, err := e.shop.UserAccount(t.Context(), 1)
		require.NoError(t, err)
		require.Equal(t, &shop.Account{Panel: sb.Kind, Name: acc.Name, ExternalID: acc.ExternalID, URL: acc.URL}, rec)

		// Activating again returns the same access without asking the panel.
		calls := sb.Requests()
		again := e.activate(t, sub.ID, f)
		require.Equal(t, acc, again)
		require.Equal(t, calls, sb.Requests())
		require.Equal(t, 1, sb.Accounts())
	})
}

func TestConcurrentActivationsMakeOneAccount(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		const workers = 5
		accs := make([]shop.Access, workers)
		errs := make([]error, workers)
		race(workers, func(i int) { accs[i], errs[i] = e.shop.Activate(t.Context(), sub.ID, f) })
		for i := range workers {
			require.NoError(t, errs[i])
			require.Equal(t, accs[0], accs[i])
		}
		require.Equal(t, 1, sb.Accounts(), "one account on the panel")
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM vpn_accesses`))
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM vpn_accounts`))
		requireAccount(t, sb, 1, accs[0].URL, true, sub.ExpiresAt)
	})
}

// Activations of one new user racing from replicas whose placements differ
// (their weights, their view of the panels' health) make one account: the
// first placement claimed is where every one of them makes it.
func TestRacingActivationsWithDifferentPlacementsMakeOneAccount(t *testing.T) {
	t.Parallel()
	a, b := vpntest.StartSandbox(t, vpn.KindOutline), vpntest.StartSandbox(t, vpn.KindRemnawave)
	fleets := make([]*vpn.Fleet, 2)
	for i, weights := range [][2]int{{2, 1}, {1, 2}} {
		f, err := vpn.NewFleet([]vpn.Panel{a.Panel, b.Panel}, []vpn.MemberConfig{
			{Name: "a", Location: "x", Weight: weights[0]}, {Name: "b", Location: "x", Weight: weights[1]},
		}, vpn.FleetOptions{Failover: true})
		require.NoError(t, err)
		fleets[i] = f
	}
	e := newEnv(t)
	for user := int64(1); user <= 10; user++ {
		sub := e.trial(t, user)
		const workers = 6
		accs := make([]shop.Access, workers)
		errs := make([]error, workers)
		race(workers, func(i int) { accs[i], errs[i] = e.shop.Activate(t.Context(), sub.ID, fleets[i%2]) })
		for i := range workers {
			require.NoError(t, errs[i])
			require.Equal(t, accs[0], accs[i])
		}
		rec, err := e.shop.UserAccount(t.Context(), user)
		require.NoError(t, err)
		require.Equal(t, rec.Panel, accs[0].Panel, "the access is on the account's panel")
	}
	require.Equal(t, 10, a.Accounts()+b.Accounts(), "one account per user, on one panel")
}

// A crash after the panel made the account, before it was recorded: the
// next activation adopts the account, sets it to the period, and makes no
// second one.
func TestAnAccountMadeButNotRecordedIsAdopted(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		made, err := sb.Panel.CreateAccount(t.Context(), vpn.Owner{UserID: 1},
			vpn.State{Enabled: false, ExpiresAt: time.Now().Add(time.Hour)})
		require.NoError(t, err)

		acc := e.activate(t, sub.ID, f)
		require.Equal(t, made.URL, acc.URL, "the account made before the crash is the user's")
		require.Equal(t, 1, sb.Accounts(), "no second account")
		requireAccount(t, sb, 1, acc.URL, true, sub.ExpiresAt)
	})
}

// With the panel down, activation records nothing but where the user's
// account is to be made (the placement it claimed), and the next one makes
// it there.
func TestActivateWithThePanelDownChangesNothing(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		sb.Fail(false)
		_, err := e.shop.Activate(t.Context(), sub.ID, f)
		require.ErrorIs(t, err, vpn.ErrUnavailable)
		require.ErrorContains(t, err, "activating subscription")
		require.Equal(t, sb.Kind, vpn.PanelOf(err))
		require.Zero(t, e.count(t, `SELECT count(*) FROM vpn_accesses`))
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM vpn_accounts WHERE external_id = '' AND access_url = ''`),
			"only the placement is claimed")
		require.Zero(t, e.count(t, `SELECT count(*) FROM vpn_accounts WHERE external_id <> ''`))
		require.Equal(t, []int64{sub.ID}, e.pending(t), "the period is still to activate")

		// The panel is back: the retry activates.
		sb.Clear()
		acc := e.activate(t, sub.ID, f)
		requireAccount(t, sb, 1, acc.URL, true, sub.ExpiresAt)
		require.Equal(t, 1, sb.Accounts())
	})
}

func TestAPaidExtensionExtendsTheAccount(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		acc := e.activate(t, sub.ID, f)

		paid := e.pay(t, e.order(t, 1, "m1", shop.ProviderCryptoPay))
		require.Equal(t, sub.ExpiresAt.Add(30*day), paid.ExpiresAt)
		if sb.Expires {
			require.Equal(t, []int64{sub.ID}, e.pending(t))
		} else {
			require.Empty(t, e.pending(t), "nothing to move on a panel without expiry")
		}
		extended := e.activate(t, sub.ID, f)
		require.Equal(t, acc.ExternalID, extended.ExternalID, "the user keeps their account")
		require.Equal(t, acc.URL, extended.URL)
		require.Equal(t, 1, sb.Accounts(), "no new account")
		require.Empty(t, e.pending(t))
		requireAccount(t, sb, 1, acc.URL, true, paid.ExpiresAt)
	})
}

// Revocation disables the account, retrying after a panel failure; the
// user's next period enables it again, and they keep their link.
func TestRevokeDisablesTheAccountAndARepurchaseGivesTheSameLink(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		acc := e.activate(t, sub.ID, f)
		e.clock.Advance(shop.DefaultTrialDuration)
		due, err := e.shop.ExpiredUnrevoked(t.Context(), grace, 10)
		require.NoError(t, err)
		require.Empty(t, due, "revoked before the grace ran out")
		_, err = e.shop.Activate(t.Context(), sub.ID, f)
		require.ErrorIs(t, err, shop.ErrNotActive, "an expired period is not activated")
		e.endPeriod(t, sub)

		// Panel down: an error, and the period stays as it was.
		sb.Fail(false)
		err = e.shop.Revoke(t.Context(), sub.ID, f)
		require.ErrorIs(t, err, vpn.ErrUnavailable)
		got := e.subscription(t, sub.ID)
		require.Equal(t, shop.StatusActive, got.Status)
		require.Nil(t, got.Access.RevokedAt)

		sb.Clear()
		require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, f))
		requireAccount(t, sb, 1, acc.URL, false, time.Time{})
		got = e.subscription(t, sub.ID)
		require.Equal(t, shop.StatusRevoked, got.Status)
		require.Equal(t, e.clock.Now(), *got.RevokedAt)
		require.Equal(t, e.clock.Now(), *got.Access.RevokedAt)
		due, err = e.shop.ExpiredUnrevoked(t.Context(), grace, 10)
		require.NoError(t, err)
		require.Empty(t, due)

		// Again: nothing to do, and the panel is not asked.
		calls := sb.Requests()
		require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, f))
		require.Equal(t, calls, sb.Requests())
		require.Nil(t, e.active(t, 1))

		// The user buys again: a new period, the same account and link.
		next := e.pay(t, e.order(t, 1, "m1", shop.ProviderStars))
		require.NotEqual(t, sub.ID, next.ID)
		require.Equal(t, []int64{next.ID}, e.pending(t))
		again := e.activate(t, next.ID, f)
		require.Equal(t, acc.URL, again.URL, "the user's link stays theirs")
		require.Equal(t, acc.ExternalID, again.ExternalID)
		require.Equal(t, 1, sb.Accounts())
		requireAccount(t, sb, 1, acc.URL, true, next.ExpiresAt)
	})
}

func TestAPaymentDuringRevocationKeepsThePeriodAndTheLink(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		old := e.activate(t, sub.ID, f)
		e.endPeriod(t, sub)

		// The expiry worker revokes; while the panel disables the account,
		// the user pays.
		calls := sb.Requests()
		sb.Fail(true)
		revoked := make(chan error, 1)
		go func() { revoked <- e.shop.Revoke(t.Context(), sub.ID, f) }()
		require.Eventually(t, func() bool { return sb.Requests() > calls }, 5*time.Second, 5*time.Millisecond)
		paid := e.pay(t, e.order(t, 1, "m1", shop.ProviderStars))
		require.Equal(t, sub.ID, paid.ID)
		sb.Clear()
		require.ErrorIs(t, await(t, revoked, "Revoke"), shop.ErrRenewed)

		got := e.subscription(t, sub.ID)
		require.Equal(t, shop.StatusActive, got.Status, "the paid period was revoked")
		require.Equal(t, e.clock.Now().Add(30*day), got.ExpiresAt)
		require.NotNil(t, got.Access.RevokedAt, "the account was disabled on the panel")
		require.Equal(t, []int64{sub.ID}, e.pending(t))

		acc := e.activate(t, sub.ID, f)
		require.Nil(t, acc.RevokedAt)
		require.Equal(t, old.URL, acc.URL, "the user keeps their link")
		require.Equal(t, old.CreatedAt, acc.CreatedAt, "the same link is not delivered again")
		require.Equal(t, 1, sb.Accounts())
		requireAccount(t, sb, 1, acc.URL, true, got.ExpiresAt)
		require.Empty(t, e.pending(t))
	})
}

func TestAnActivationRacingARevocationLeavesTheAccountDisabled(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		// The activation is at the panel when the revocation (of a period
		// it found without access) marks the period revoked.
		calls := sb.Requests()
		sb.Fail(true)
		activated := make(chan error, 1)
		go func() {
			_, err := e.shop.Activate(t.Context(), sub.ID, f)
			activated <- err
		}()
		require.Eventually(t, func() bool { return sb.Requests() > calls }, 5*time.Second, 5*time.Millisecond)
		require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, f))
		sb.Clear()
		require.ErrorIs(t, await(t, activated, "Activate"), shop.ErrNotActive)
		require.Zero(t, e.count(t, `SELECT count(*) FROM vpn_accesses`))
		if a, found := sb.Account(t, vpn.AccountName(vpn.DefaultNamePrefix, 1)); found {
			require.False(t, a.Enabled, "an account was left working for a revoked period")
			require.False(t, sb.LinkWorks(a.URL))
		}
	})
}

// A revocation that comes late, for a period whose user has a new one, must
// not stop the new period's access: the account is the same.
func TestALateRevocationLeavesTheNextPeriodWorking(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		acc := e.activate(t, sub.ID, f)
		// As an activation recording its access just after a revocation
		// that found none leaves it.
		_, err := e.pool.Exec(t.Context(), `UPDATE subscriptions SET status = 'revoked', revoked_at = now() WHERE id = $1`, sub.ID)
		require.NoError(t, err)
		next := e.pay(t, e.order(t, 1, "m1", shop.ProviderStars))
		e.activate(t, next.ID, f)

		due, err := e.shop.ExpiredUnrevoked(t.Context(), grace, 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		require.Equal(t, sub.ID, due[0].ID)
		require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, f))
		require.NotNil(t, e.subscription(t, sub.ID).Access.RevokedAt)
		requireAccount(t, sb, 1, acc.URL, true, next.ExpiresAt)
		require.Empty(t, e.pending(t))
		due, err = e.shop.ExpiredUnrevoked(t.Context(), grace, 10)
		require.NoError(t, err)
		require.Empty(t, due)
	})
}

// A late revocation that disables the account while the user's next period
// is being activated (the check for the next period came before it): the
// next period is made to be activated again, so the account ends enabled.
func TestALateDisableRacingTheNextActivationIsUndone(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		acc := e.activate(t, sub.ID, f)
		_, err := e.pool.Exec(t.Context(), `UPDATE subscriptions SET status = 'revoked', revoked_at = now() WHERE id = $1`, sub.ID)
		require.NoError(t, err)

		// The late revocation's disable reaches the panel and hangs there.
		calls := sb.Requests()
		sb.Fail(true)
		revoked := make(chan error, 1)
		go func() { revoked <- e.shop.Revoke(t.Context(), sub.ID, f) }()
		require.Eventually(t, func() bool { return sb.Requests() > calls }, 5*time.Second, 5*time.Millisecond)
		// Meanwhile the user pays, and the new period is activated.
		next := e.pay(t, e.order(t, 1, "m1", shop.ProviderStars))
		sb.Clear()
		e.activate(t, next.ID, f)
		require.NoError(t, await(t, revoked, "Revoke"))

		// Whichever order the panel calls took, the new period's access
		// is enabled once activation has run again.
		for _, id := range e.pending(t) {
			require.Equal(t, next.ID, id)
			e.activate(t, id, f)
		}
		requireAccount(t, sb, 1, acc.URL, true, next.ExpiresAt)
	})
}

func TestRotateGivesANewLinkAndTheOldOneStops(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		old := e.activate(t, sub.ID, f)
		found, err := e.shop.RequestNewLink(t.Context(), 2)
		require.NoError(t, err)
		require.False(t, found, "a user with no account")
		for range 2 {
			found, err = e.shop.RequestNewLink(t.Context(), 1)
			require.NoError(t, err)
			require.True(t, found)
		}
		users, err := e.shop.PendingRotations(t.Context(), 10)
		require.NoError(t, err)
		require.Equal(t, []int64{1}, users, "asking twice asks once")

		e.clock.Advance(time.Minute)
		rec, err := e.shop.Rotate(t.Context(), 1, f)
		require.NoError(t, err)
		require.NotEqual(t, old.URL, rec.URL)
		require.False(t, sb.LinkWorks(old.URL), "the old link still works")
		requireAccount(t, sb, 1, rec.URL, true, sub.ExpiresAt)
		got := e.subscription(t, sub.ID).Access
		require.Equal(t, rec.URL, got.URL, "the period's access carries the new link")
		require.Equal(t, rec.ExternalID, got.ExternalID)
		require.Equal(t, e.clock.Now(), got.CreatedAt, "a new access, to be delivered")
		again, err := e.shop.RequestNewLink(t.Context(), 1)
		require.NoError(t, err)
		require.True(t, again)
		_, err = e.shop.Rotate(t.Context(), 1, f)
		require.NoError(t, err)
		require.Equal(t, e.clock.Now().Add(time.Second), e.subscription(t, sub.ID).Access.CreatedAt,
			"a second new link within the second is a new access too")
		users, err = e.shop.PendingRotations(t.Context(), 10)
		require.NoError(t, err)
		require.Empty(t, users)
		require.Equal(t, 1, sb.Accounts())
	})
}

// rotatingMidway is a panel that, once, right after it answered a
// SetAccount, gives the user a new link (their press of "New link" handled
// by another replica at that moment).
type rotatingMidway struct {
	vpn.Panel
	once   sync.Once
	rotate func()
}

func (r *rotatingMidway) SetAccount(ctx context.Context, ref vpn.Ref, want vpn.State) (vpn.Account, error) {
	a, err := r.Panel.SetAccount(ctx, ref, want)
	r.once.Do(r.rotate)
	return a, err
}

// A new link made while an activation's panel call was under way: the
// activation does not record the account as the call found it (its old
// link), and its retry records the new link, which works.
func TestANewLinkMadeDuringAnActivationIsTheOneRecorded(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		old := e.activate(t, sub.ID, f)
		e.clock.Advance(shop.DefaultTrialDuration)
		e.endPeriod(t, sub)
		require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, f))
		next := e.pay(t, e.order(t, 1, "m1", shop.ProviderStars))

		var rotated shop.Account
		midway := &rotatingMidway{Panel: sb.Panel, rotate: func() {
			found, err := e.shop.RequestNewLink(t.Context(), 1)
			require.NoError(t, err)
			require.True(t, found)
			rotated, err = e.shop.Rotate(t.Context(), 1, f)
			require.NoError(t, err)
		}}
		racing, err := vpn.NewFleet([]vpn.Panel{midway}, []vpn.MemberConfig{{Name: sb.Kind}}, vpn.FleetOptions{})
		require.NoError(t, err)
		_, err = e.shop.Activate(t.Context(), next.ID, racing)
		require.ErrorContains(t, err, "changed meanwhile")
		require.NotEqual(t, old.URL, rotated.URL)
		rec, err := e.shop.UserAccount(t.Context(), 1)
		require.NoError(t, err)
		require.Equal(t, rotated.URL, rec.URL, "the old link was not recorded over the new one")
		require.Nil(t, e.subscription(t, next.ID).Access, "no access with the old link")

		acc := e.activate(t, next.ID, f)
		require.Equal(t, rotated.URL, acc.URL)
		require.True(t, sb.LinkWorks(acc.URL))
		require.False(t, sb.LinkWorks(old.URL))
		requireAccount(t, sb, 1, acc.URL, true, next.ExpiresAt)
	})
}

func TestReactivateRecreatesAnAccountGoneFromThePanel(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription) {
		old := e.activate(t, sub.ID, f)
		require.True(t, sb.DriftDelete(old.Name))
		require.False(t, sb.LinkWorks(old.URL))

		acc, err := e.shop.Reactivate(t.Context(), sub.ID, f)
		require.NoError(t, err)
		require.Equal(t, old.Name, acc.Name)
		requireAccount(t, sb, 1, acc.URL, true, sub.ExpiresAt)
		rec, err := e.shop.UserAccount(t.Context(), 1)
		require.NoError(t, err)
		require.Equal(t, acc.URL, rec.URL)
	})
}

// New users are placed by weight; while a panel fails they are placed on
// the other at once, and placement resumes by weight when it is back.
func TestNewUsersArePlacedByWeightAndAroundAFailingPanel(t *testing.T) {
	t.Parallel()
	a, b := vpntest.StartSandbox(t, vpn.KindOutline), vpntest.StartSandbox(t, vpn.KindRemnawave)
	f, err := vpn.NewFleet([]vpn.Panel{a.Panel, b.Panel},
		[]vpn.MemberConfig{{Name: "a", Location: "x", Weight: 2}, {Name: "b", Location: "x"}}, vpn.FleetOptions{Failover: true})
	require.NoError(t, err)
	e := newEnv(t)
	activate := func(user int64) shop.Access {
		return e.activate(t, e.trial(t, user).ID, f)
	}
	for u := int64(1); u <= 6; u++ {
		activate(u)
	}
	require.Equal(t, 4, a.Accounts())
	require.Equal(t, 2, b.Accounts())

	a.Fail(false)
	for u := int64(7); u <= 9; u++ {
		require.Equal(t, "b", activate(u).Panel, "a new user waited for the failing panel")
	}
	down, _ := f.Member("a")
	since, _ := down.Down()
	require.False(t, since.IsZero())
	a.Clear()
	require.Equal(t, 4, a.Accounts(), "nothing placed on the failing panel")

	_, err = down.Accounts(t.Context(), "") // the panel answers again
	require.NoError(t, err)
	for u := int64(10); u <= 12; u++ {
		require.Equal(t, "a", activate(u).Panel, "placement resumes by weight")
	}
	require.Equal(t, 7, a.Accounts())
	require.Equal(t, 5, b.Accounts())
}

func TestPendingActivationsListsWhatNeedsThePanel(t *testing.T) {
	t.Parallel()
	f := vpntest.StartSandbox(t, vpn.KindRemnawave).Fleet(t)
	e := newEnv(t)
	fresh := e.trial(t, 1)
	current := e.trial(t, 2)
	e.activate(t, current.ID, f)
	behind := e.trial(t, 3)
	e.activate(t, behind.ID, f)
	e.pay(t, e.order(t, 3, "m1", shop.ProviderCryptoPay))
	expired := e.trial(t, 4)
	_, err := e.pool.Exec(t.Context(), `UPDATE subscriptions SET expires_at = starts_at + interval '1 second' WHERE id = $1`, expired.ID)
	require.NoError(t, err)
	e.clock.Advance(time.Minute)

	require.ElementsMatch(t, []int64{fresh.ID, behind.ID}, e.pending(t))
	subs, err := e.shop.PendingActivations(t.Context(), 1)
	require.NoError(t, err)
	require.Len(t, subs, 1)
}

func TestNoTransactionIsOpenDuringPanelCalls(t *testing.T) {
	t.Parallel()
	for _, kind := range vpntest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			sb := vpntest.StartSandbox(t, kind)
			e := newEnv(t)
			watch := &noOpenTransaction{Panel: sb.Panel, t: t, pool: e.pool, monitor: e.db.Pool, appName: e.db.Schema}
			f, err := vpn.NewFleet([]vpn.Panel{watch}, []vpn.MemberConfig{{Name: kind}}, vpn.FleetOptions{Failover: true})
			require.NoError(t, err)
			sub := e.trial(t, 1)
			e.activate(t, sub.ID, f)
			e.pay(t, e.order(t, 1, "m1", shop.ProviderCryptoPay))
			e.activate(t, sub.ID, f)
			_, err = e.shop.RequestNewLink(t.Context(), 1)
			require.NoError(t, err)
			_, err = e.shop.Rotate(t.Context(), 1, f)
			require.NoError(t, err)
			e.endPeriod(t, sub)
			require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, f))
			want := 3 // create, rotate, disable
			if sb.Expires {
				want++ // and extend
			}
			require.Equal(t, want, watch.checked, "the panel calls were not all watched")
		})
	}
}
