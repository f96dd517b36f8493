package shop_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// TestEveryGrantAddsToWhatIsLeft runs payments, purchases from the balance
// and top-ups, in every order, on a user whose period is running, past its
// expiry but not revoked, revoked, or a trial: after each, the user's
// period ends max(now, its end before) + what was bought (a new period
// starts now for a revoked one), never earlier, never overwritten.
func TestEveryGrantAddsToWhatIsLeft(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	states := map[string]func(user int64){
		"running": func(user int64) {
			e.pay(t, e.order(t, user, "m1", shop.ProviderCryptoPay))
			e.clock.Advance(10 * day)
		},
		"expired, not revoked": func(user int64) {
			e.pay(t, e.order(t, user, "m1", shop.ProviderCryptoPay))
			e.clock.Advance(32 * day)
		},
		"revoked": func(user int64) {
			sub := e.pay(t, e.order(t, user, "m1", shop.ProviderCryptoPay))
			e.clock.Advance(32 * day)
			_, err := e.pool.Exec(t.Context(), `UPDATE subscriptions SET status = 'revoked', revoked_at = $2 WHERE id = $1`,
				sub.ID, e.clock.Now())
			require.NoError(t, err)
		},
		"trial": func(user int64) {
			_, err := e.shop.StartTrial(t.Context(), user)
			require.NoError(t, err)
			e.clock.Advance(time.Hour)
		},
	}
	ops := map[string]func(user int64) time.Duration{
		"payment": func(user int64) time.Duration {
			e.pay(t, e.order(t, user, "m3", shop.ProviderStars))
			return 90 * day
		},
		"purchase": func(user int64) time.Duration {
			_, applied, err := e.shop.BuyFromBalance(t.Context(), fmt.Sprintf("purchase:%d:%d", user, e.clock.Now().Unix()),
				user, "m1", shop.CurrencyXTR)
			require.NoError(t, err)
			require.True(t, applied)
			return 30 * day
		},
		"top-up": func(user int64) time.Duration {
			e.topUp(t, user, 100)
			return 0
		},
	}
	orders := [][]string{
		{"payment", "purchase", "top-up"}, {"payment", "top-up", "purchase"},
		{"purchase", "payment", "top-up"}, {"purchase", "top-up", "payment"},
		{"top-up", "payment", "purchase"}, {"top-up", "purchase", "payment"},
	}
	user := int64(0)
	for state, setup := range states {
		for _, order := range orders {
			user++
			e.addUser(t, user)
			e.topUp(t, user, 250) // what the purchase takes
			setup(user)
			for _, op := range order {
				before, at := e.active(t, user), e.clock.Now()
				added := ops[op](user)
				e.clock.Advance(time.Minute)
				after := e.active(t, user)
				if added == 0 {
					require.Equal(t, before, after, "%s, %v: %s changes no period", state, order, op)
					continue
				}
				from := at
				if before != nil && before.ExpiresAt.After(at) {
					from = before.ExpiresAt
				}
				require.NotNil(t, after, "%s, %v: %s", state, order, op)
				require.Equal(t, from.Add(added), after.ExpiresAt, "%s, %v: %s", state, order, op)
			}
		}
	}
	e.requireLedgerMatchesBalances(t)
}
