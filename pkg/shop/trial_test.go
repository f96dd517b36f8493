package shop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestConcurrentTrialPressesGiveOneTrial(t *testing.T) {
	t.Parallel()
	for _, presses := range []int{2, 20} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.addUser(t, 1)
			errs := make([]error, presses)
			subs := make([]shop.Subscription, presses)
			race(presses, func(i int) { subs[i], errs[i] = e.shop.StartTrial(t.Context(), 1) })

			won := -1
			for i, err := range errs {
				if err == nil {
					require.Equal(t, -1, won, "two presses got a trial")
					won = i
					continue
				}
				require.ErrorIs(t, err, shop.ErrTrialUsed)
			}
			require.NotEqual(t, -1, won, "no press got the trial")
			sub := subs[won]
			require.Equal(t, shop.KindTrial, sub.Kind)
			require.Equal(t, shop.StatusActive, sub.Status)
			require.Equal(t, e.clock.Now(), sub.StartsAt)
			require.Equal(t, e.clock.Now().Add(shop.DefaultTrialDuration), sub.ExpiresAt)
			require.Nil(t, sub.Access, "a trial has no key until activation")
			require.Equal(t, 1, e.count(t, `SELECT count(*) FROM trials WHERE user_id = 1`))
			require.Equal(t, 1, e.count(t, `SELECT count(*) FROM subscriptions WHERE user_id = 1`))
		})
	}
}

func TestTrialIsOncePerUserEver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.trial(t, 1)

	// Long after the trial ran out and was revoked, there is no second one.
	e.clock.Advance(10 * day)
	require.NoError(t, e.shop.Revoke(t.Context(), first.ID, nil))
	_, err := e.shop.StartTrial(t.Context(), 1)
	require.ErrorIs(t, err, shop.ErrTrialUsed)
	require.Nil(t, e.active(t, 1))

	_, err = e.shop.StartTrial(t.Context(), 999)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
}

func TestTrialIsRefusedWhileSubscribedAndNotSpent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	paid := e.pay(t, e.order(t, 1, "m1", shop.ProviderCryptoPay))

	_, err := e.shop.StartTrial(t.Context(), 1)
	require.ErrorIs(t, err, shop.ErrAlreadySubscribed)
	require.Zero(t, e.count(t, `SELECT count(*) FROM trials`), "a refused trial was spent")
	require.Equal(t, paid.ExpiresAt, e.active(t, 1).ExpiresAt, "the refused trial changed the subscription")

	// Once the paid period has run out (and awaits revocation), the trial
	// continues that period from now, so the user keeps their key.
	e.clock.Advance(31 * day)
	trial, err := e.shop.StartTrial(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, paid.ID, trial.ID)
	require.Equal(t, shop.KindPaid, trial.Kind, "the period started paid")
	require.Equal(t, e.clock.Now().Add(shop.DefaultTrialDuration), trial.ExpiresAt)
}

func TestStartTrialUsesTheConfiguredDuration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	s := shop.New(e.pool, shop.Config{TrialDuration: day, NowFunc: e.clock.Now})
	sub, err := s.StartTrial(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, e.clock.Now().Add(day), sub.ExpiresAt)
}

func TestRunningTrialIsThePeriodUntilTheTrialEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	running := func(userID int64) *shop.Subscription {
		t.Helper()
		sub, err := e.shop.RunningTrial(t.Context(), userID)
		require.NoError(t, err)
		return sub
	}
	e.addUser(t, 1)
	require.Nil(t, running(1), "no trial taken")
	trial, err := e.shop.StartTrial(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, &trial, running(1))
	e.clock.Advance(shop.DefaultTrialDuration - time.Second)
	require.Equal(t, &trial, running(1), "the trial's last second")
	e.clock.Advance(time.Second)
	require.Nil(t, running(1), "the trial is over")

	// A trial paid for goes on as the subscription: no trial runs.
	paidFor := e.trial(t, 2)
	e.pay(t, e.order(t, 2, "m1", shop.ProviderStars))
	require.Equal(t, paidFor.ID, e.active(t, 2).ID)
	require.Nil(t, running(2))

	// A trial on an expired paid period (kind paid) runs on that period.
	e.addUser(t, 3)
	paid := e.pay(t, e.order(t, 3, "m1", shop.ProviderStars))
	e.clock.Advance(31 * day)
	onPaid, err := e.shop.StartTrial(t.Context(), 3)
	require.NoError(t, err)
	require.Equal(t, paid.ID, onPaid.ID)
	require.Equal(t, &onPaid, running(3))

	// A revoked trial period is no running trial.
	revoked := e.trial(t, 4)
	require.NoError(t, e.shop.Revoke(t.Context(), revoked.ID, nil))
	require.Nil(t, running(4))
}
