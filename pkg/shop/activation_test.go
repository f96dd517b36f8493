package shop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// activate activates period subID on p, which must succeed.
func (e *env) activate(t *testing.T, subID int64, p shop.Provisioner) shop.Access {
	t.Helper()
	acc, err := e.shop.Activate(t.Context(), subID, p)
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

// forEachPanel runs test as a parallel subtest against each panel, each with
// a fresh shop in which user 1 has just started their trial, sub.
func forEachPanel(t *testing.T, test func(t *testing.T, e *env, pn *panel, sub shop.Subscription)) {
	t.Helper()
	for _, pn := range panels(t) {
		t.Run(pn.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			test(t, e, pn, e.trial(t, 1))
		})
	}
}

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

func TestActivateRecordsOneAccessPerPeriod(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, pn *panel, sub shop.Subscription) {
		require.Equal(t, []int64{sub.ID}, e.pending(t))

		acc := e.activate(t, sub.ID, pn.p)
		require.Equal(t, pn.name, acc.Panel)
		require.NotEmpty(t, acc.ExternalID)
		require.NotEmpty(t, acc.URL)
		require.Nil(t, acc.RevokedAt)
		panelExpiry, ok := pn.has(acc.ExternalID)
		require.True(t, ok, "the access is not on the panel")
		if pn.name == "remnawave" {
			require.Equal(t, sub.ExpiresAt, *acc.ExpiresAt)
			require.True(t, sub.ExpiresAt.Equal(panelExpiry), "panel expiry %s, period %s", panelExpiry, sub.ExpiresAt)
		} else {
			require.Nil(t, acc.ExpiresAt, "outline keys do not expire")
		}
		got := e.subscription(t, sub.ID)
		require.Equal(t, &acc, got.Access)
		require.Empty(t, e.pending(t))

		// Activating again returns the same access without asking the panel.
		calls := pn.calls()
		again := e.activate(t, sub.ID, pn.p)
		require.Equal(t, acc, again)
		require.Equal(t, calls, pn.calls())
		require.Equal(t, 1, pn.accesses())
	})
}

func TestConcurrentActivationsMakeOneKey(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, pn *panel, sub shop.Subscription) {
		const workers = 5
		accs := make([]shop.Access, workers)
		errs := make([]error, workers)
		race(workers, func(i int) { accs[i], errs[i] = e.shop.Activate(t.Context(), sub.ID, pn.p) })
		for i := range workers {
			require.NoError(t, errs[i])
			require.Equal(t, accs[0], accs[i])
		}
		require.Equal(t, 1, pn.accesses(), "one key on the panel")
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM vpn_accesses`))
	})
}

func TestActivateWithThePanelDownChangesNothing(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, pn *panel, sub shop.Subscription) {
		pn.fail("create", false)
		_, err := e.shop.Activate(t.Context(), sub.ID, pn.p)
		require.ErrorIs(t, err, vpn.ErrUnavailable)
		require.ErrorContains(t, err, "activating subscription")
		require.Zero(t, e.count(t, `SELECT count(*) FROM vpn_accesses`))
		require.Equal(t, []int64{sub.ID}, e.pending(t), "the period is still to activate")

		// The panel is back: the retry activates.
		pn.clear()
		acc := e.activate(t, sub.ID, pn.p)
		_, ok := pn.has(acc.ExternalID)
		require.True(t, ok)
		require.Equal(t, 1, pn.accesses())
	})
}

func TestAPaidExtensionExtendsTheAccessOnThePanel(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, pn *panel, sub shop.Subscription) {
		acc := e.activate(t, sub.ID, pn.p)

		paid := e.pay(t, e.order(t, 1, "m1", shop.ProviderCryptoPay))
		require.Equal(t, sub.ExpiresAt.Add(30*day), paid.ExpiresAt)
		if pn.name == "outline" {
			// Nothing to move on a panel without expiry.
			require.Empty(t, e.pending(t))
		} else {
			require.Equal(t, []int64{sub.ID}, e.pending(t))
		}
		extended := e.activate(t, sub.ID, pn.p)
		require.Equal(t, acc.ExternalID, extended.ExternalID, "the user keeps their key")
		require.Equal(t, acc.URL, extended.URL)
		require.Equal(t, 1, pn.accesses(), "no new key")
		require.Empty(t, e.pending(t))
		if pn.name == "remnawave" {
			require.Equal(t, paid.ExpiresAt, *extended.ExpiresAt)
			panelExpiry, _ := pn.has(acc.ExternalID)
			require.True(t, paid.ExpiresAt.Equal(panelExpiry), "panel expiry %s, paid until %s", panelExpiry, paid.ExpiresAt)
		}
	})
}

func TestRevokeRemovesTheKeyOnceAndRetriesAfterAPanelFailure(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, pn *panel, sub shop.Subscription) {
		acc := e.activate(t, sub.ID, pn.p)

		const grace = 24 * time.Hour
		e.clock.Advance(shop.DefaultTrialDuration)
		due, err := e.shop.ExpiredUnrevoked(t.Context(), grace, 10)
		require.NoError(t, err)
		require.Empty(t, due, "revoked before the grace ran out")
		_, err = e.shop.Activate(t.Context(), sub.ID, pn.p)
		require.ErrorIs(t, err, shop.ErrNotActive, "an expired period is not activated")

		e.clock.Advance(grace)
		due, err = e.shop.ExpiredUnrevoked(t.Context(), grace, 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		require.Equal(t, sub.ID, due[0].ID)

		// Panel down: an error, and the period stays as it was.
		pn.fail("revoke", false)
		err = e.shop.Revoke(t.Context(), sub.ID, pn.p)
		require.ErrorIs(t, err, vpn.ErrUnavailable)
		got := e.subscription(t, sub.ID)
		require.Equal(t, shop.StatusActive, got.Status)
		require.Nil(t, got.Access.RevokedAt)
		_, ok := pn.has(acc.ExternalID)
		require.True(t, ok)

		pn.clear()
		require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, pn.p))
		_, ok = pn.has(acc.ExternalID)
		require.False(t, ok, "the key is still on the panel")
		got = e.subscription(t, sub.ID)
		require.Equal(t, shop.StatusRevoked, got.Status)
		require.Equal(t, e.clock.Now(), *got.RevokedAt)
		require.Equal(t, e.clock.Now(), *got.Access.RevokedAt)
		due, err = e.shop.ExpiredUnrevoked(t.Context(), grace, 10)
		require.NoError(t, err)
		require.Empty(t, due)

		// Again: nothing to do, and the panel is not asked.
		calls := pn.calls()
		require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, pn.p))
		require.Equal(t, calls, pn.calls())
		require.Nil(t, e.active(t, 1))
	})
}

func TestAPaymentDuringRevocationKeepsThePeriodAndMakesANewKey(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, pn *panel, sub shop.Subscription) {
		old := e.activate(t, sub.ID, pn.p)
		e.clock.Advance(shop.DefaultTrialDuration + time.Hour)

		// The expiry worker revokes; while the panel deletes the key, the
		// user pays.
		pn.fail("revoke", true)
		revoked := make(chan error, 1)
		go func() { revoked <- e.shop.Revoke(t.Context(), sub.ID, pn.p) }()
		require.Eventually(t, func() bool { return pn.requests("revoke") == 1 }, 5*time.Second, 5*time.Millisecond)
		paid := e.pay(t, e.order(t, 1, "m1", shop.ProviderStars))
		require.Equal(t, sub.ID, paid.ID)
		pn.clear()
		require.ErrorIs(t, await(t, revoked, "Revoke"), shop.ErrRenewed)

		got := e.subscription(t, sub.ID)
		require.Equal(t, shop.StatusActive, got.Status, "the paid period was revoked")
		require.Equal(t, e.clock.Now().Add(30*day), got.ExpiresAt)
		require.NotNil(t, got.Access.RevokedAt, "the access is gone from the panel")
		require.Equal(t, []int64{sub.ID}, e.pending(t))

		acc := e.activate(t, sub.ID, pn.p)
		require.Nil(t, acc.RevokedAt)
		_, ok := pn.has(acc.ExternalID)
		require.True(t, ok, "the paid period has no key on the panel")
		require.Equal(t, 1, pn.accesses())
		if pn.name == "remnawave" {
			require.NotEqual(t, old.ExternalID, acc.ExternalID)
			require.Equal(t, got.ExpiresAt, *acc.ExpiresAt)
		}
		require.Empty(t, e.pending(t))
	})
}

func TestAnActivationRacingARevocationLeavesNoKey(t *testing.T) {
	t.Parallel()
	forEachPanel(t, func(t *testing.T, e *env, pn *panel, sub shop.Subscription) {
		// The activation is at the panel when the revocation (of a
		// period it found without access) marks the period revoked.
		pn.fail("create", true)
		activated := make(chan error, 1)
		go func() {
			_, err := e.shop.Activate(t.Context(), sub.ID, pn.p)
			activated <- err
		}()
		require.Eventually(t, func() bool { return pn.requests("create") == 1 }, 5*time.Second, 5*time.Millisecond)
		require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, pn.p))
		pn.clear()
		require.ErrorIs(t, await(t, activated, "Activate"), shop.ErrNotActive)
		require.Zero(t, pn.accesses(), "a key was left for a revoked period")
		require.Zero(t, e.count(t, `SELECT count(*) FROM vpn_accesses`))
	})
}

func TestARevokedPeriodWithALiveAccessIsRevokedAgain(t *testing.T) {
	t.Parallel()
	pn := outlinePanel(t)
	e := newEnv(t)
	sub := e.trial(t, 1)
	acc := e.activate(t, sub.ID, pn.p)
	// As an activation recording its key just after a revocation that found
	// none leaves it.
	_, err := e.pool.Exec(t.Context(), `UPDATE subscriptions SET status = 'revoked', revoked_at = now() WHERE id = $1`, sub.ID)
	require.NoError(t, err)

	due, err := e.shop.ExpiredUnrevoked(t.Context(), time.Hour, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, pn.p))
	_, ok := pn.has(acc.ExternalID)
	require.False(t, ok)
	due, err = e.shop.ExpiredUnrevoked(t.Context(), time.Hour, 10)
	require.NoError(t, err)
	require.Empty(t, due)
}

func TestPendingActivationsListsWhatNeedsThePanel(t *testing.T) {
	t.Parallel()
	rw := remnawavePanel(t)
	e := newEnv(t)
	fresh := e.trial(t, 1)
	current := e.trial(t, 2)
	e.activate(t, current.ID, rw.p)
	behind := e.trial(t, 3)
	e.activate(t, behind.ID, rw.p)
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
	forEachPanel(t, func(t *testing.T, e *env, pn *panel, sub shop.Subscription) {
		watch := &noOpenTransaction{Provisioner: pn.p, t: t, pool: e.pool, monitor: e.db.Pool, appName: e.db.Schema}
		e.activate(t, sub.ID, watch)
		e.pay(t, e.order(t, 1, "m1", shop.ProviderCryptoPay))
		e.activate(t, sub.ID, watch)
		require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, watch))
		want := 2 // create, revoke
		if pn.name == "remnawave" {
			want = 3 // and extend
		}
		require.Equal(t, want, watch.checked, "the panel calls were not all watched")
	})
}
