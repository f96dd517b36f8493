package shop_test

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/shop/shoptest"
)

// owner is the admin who acts in these tests.
const owner = 1000

// act is an action of owner under key.
func act(key string) shop.Act { return shop.Act{OpKey: key, AdminID: owner} }

// audits counts the audit rows of the action about the user.
func (e *env) audits(t *testing.T, user int64, action string) int {
	t.Helper()
	return e.count(t, `SELECT count(*) FROM admin_audit WHERE target_id = $1 AND action = $2`, user, action)
}

// grants counts the user's ledger rows of admins' grants.
func (e *env) grants(t *testing.T, user int64) int {
	t.Helper()
	return e.count(t, `SELECT count(*) FROM ledger WHERE user_id = $1 AND kind = 'grant'`, user)
}

// stamp is a time as an audit row holds it.
func stamp(ts time.Time) string { return ts.UTC().Format(time.RFC3339) }

func TestEachAdminActionPressedManyTimesTakesEffectOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	invoices := map[int64]int64{}
	cases := []struct {
		action string
		setup  func(t *testing.T, user int64)
		do     func(a shop.Act, user int64) (shop.AdminResult, error)
		// again is whether another op key applies the action a second
		// time, which check then sees as n = 2.
		again bool
		check func(t *testing.T, user int64, n int)
	}{{
		action: shop.ActionExtend,
		setup: func(t *testing.T, user int64) {
			_, err := e.shop.StartTrial(t.Context(), user)
			require.NoError(t, err)
		},
		do: func(a shop.Act, user int64) (shop.AdminResult, error) {
			return e.shop.AdminExtend(t.Context(), a, user, 7*day)
		},
		again: true,
		check: func(t *testing.T, user int64, n int) {
			require.Equal(t, now.Add(shop.DefaultTrialDuration+time.Duration(n)*7*day), e.active(t, user).ExpiresAt)
			require.Equal(t, n, e.grants(t, user))
		},
	}, {
		action: shop.ActionShorten,
		setup: func(t *testing.T, user int64) {
			_, err := e.shop.AdminExtend(t.Context(), act(fmt.Sprintf("setup:%d", user)), user, 30*day)
			require.NoError(t, err)
		},
		do: func(a shop.Act, user int64) (shop.AdminResult, error) {
			return e.shop.AdminExtend(t.Context(), a, user, -2*day)
		},
		again: true,
		check: func(t *testing.T, user int64, n int) {
			require.Equal(t, now.Add(30*day-time.Duration(n)*2*day), e.active(t, user).ExpiresAt)
			require.Equal(t, 1+n, e.grants(t, user))
		},
	}, {
		action: shop.ActionEnd,
		setup: func(t *testing.T, user int64) {
			// Begun an hour ago: a period ends no earlier than a second
			// after its start.
			e.clock.Advance(-time.Hour)
			defer e.clock.Advance(time.Hour)
			_, err := e.shop.AdminExtend(t.Context(), act(fmt.Sprintf("setup:%d", user)), user, 30*day)
			require.NoError(t, err)
		},
		do: func(a shop.Act, user int64) (shop.AdminResult, error) {
			return e.shop.AdminEndNow(t.Context(), a, user)
		},
		check: func(t *testing.T, user int64, _ int) {
			require.Equal(t, now, e.active(t, user).ExpiresAt)
			require.Equal(t, 2, e.grants(t, user))
		},
	}, {
		action: shop.ActionBan,
		setup:  func(*testing.T, int64) {},
		do: func(a shop.Act, user int64) (shop.AdminResult, error) {
			return e.shop.Ban(t.Context(), a, user)
		},
		again: true,
		check: func(t *testing.T, user int64, n int) {
			banned, err := e.shop.Banned(t.Context(), user)
			require.NoError(t, err)
			require.Equal(t, &now, banned)
			require.Equal(t, n, e.audits(t, user, shop.ActionBan))
		},
	}, {
		action: shop.ActionUnban,
		setup: func(t *testing.T, user int64) {
			_, err := e.shop.Ban(t.Context(), act(fmt.Sprintf("setup:%d", user)), user)
			require.NoError(t, err)
		},
		do: func(a shop.Act, user int64) (shop.AdminResult, error) {
			return e.shop.Unban(t.Context(), a, user)
		},
		again: true,
		check: func(t *testing.T, user int64, n int) {
			banned, err := e.shop.Banned(t.Context(), user)
			require.NoError(t, err)
			require.Nil(t, banned)
			require.Equal(t, n, e.audits(t, user, shop.ActionUnban))
		},
	}, {
		action: shop.ActionGrantBalance,
		setup:  func(*testing.T, int64) {},
		do: func(a shop.Act, user int64) (shop.AdminResult, error) {
			return e.shop.AdminGrantBalance(t.Context(), a, user, shop.CurrencyUSD, 150)
		},
		again: true,
		check: func(t *testing.T, user int64, n int) {
			require.EqualValues(t, n*150, e.balance(t, user, shop.CurrencyUSD))
			require.Equal(t, n, e.grants(t, user))
		},
	}, {
		action: shop.ActionReissue,
		setup: func(t *testing.T, user int64) {
			sub, err := e.shop.StartTrial(t.Context(), user)
			require.NoError(t, err)
			shoptest.SeedAccess(t, e.pool, sub.ID, "outline", "ss://old")
		},
		do: func(a shop.Act, user int64) (shop.AdminResult, error) {
			return e.shop.AdminReissue(t.Context(), a, user)
		},
		again: true,
		check: func(t *testing.T, user int64, n int) {
			require.Equal(t, 1, e.count(t, `SELECT count(*) FROM vpn_accounts WHERE user_id = $1 AND rotate_requested_at = $2`, user, now))
			require.Equal(t, n, e.audits(t, user, shop.ActionReissue))
		},
	}, {
		action: shop.ActionRefund,
		setup: func(t *testing.T, user int64) {
			e.clock.Advance(-time.Hour)
			defer e.clock.Advance(time.Hour)
			inv := e.order(t, user, "m1", shop.ProviderStars)
			_, _, err := e.shop.ApplyPayment(t.Context(), inv.ID, fmt.Sprintf("charge-%d", inv.ID))
			require.NoError(t, err)
			invoices[user] = inv.ID
		},
		do: func(a shop.Act, user int64) (shop.AdminResult, error) {
			return e.shop.AdminRefund(t.Context(), a, invoices[user])
		},
		// Another key records the action again but reverses nothing more.
		again: true,
		check: func(t *testing.T, user int64, n int) {
			require.Equal(t, 1, e.count(t, `SELECT count(*) FROM ledger WHERE user_id = $1 AND kind = 'refund'`, user))
			require.Equal(t, now, e.active(t, user).ExpiresAt, "the month is taken back once")
			require.Equal(t, n, e.audits(t, user, shop.ActionRefund))
		},
	}, {
		action: shop.ActionMessage,
		setup:  func(*testing.T, int64) {},
		do: func(a shop.Act, user int64) (shop.AdminResult, error) {
			return e.shop.AdminMessage(t.Context(), a, user, "Hello")
		},
		again: true,
		check: func(t *testing.T, user int64, n int) {
			require.Equal(t, n, e.audits(t, user, shop.ActionMessage))
		},
	}, {
		action: shop.ActionRole,
		setup:  func(*testing.T, int64) {},
		do: func(a shop.Act, user int64) (shop.AdminResult, error) {
			return e.shop.SetRole(t.Context(), a, user, shop.RoleSupport)
		},
		again: true,
		check: func(t *testing.T, user int64, n int) {
			role, err := e.shop.Role(t.Context(), user)
			require.NoError(t, err)
			require.Equal(t, shop.RoleSupport, role)
			require.Equal(t, n, e.audits(t, user, shop.ActionRole))
		},
	}}
	user := int64(0)
	for _, c := range cases {
		for round := range 3 {
			user++
			e.addUser(t, user)
			c.setup(t, user)
			a := shop.Act{OpKey: fmt.Sprintf("%s:%d", c.action, user), AdminID: owner, UpdateID: 500 + user, Note: "why"}
			const presses = 8
			var results [presses]shop.AdminResult
			var errs [presses]error
			race(presses, func(i int) { results[i], errs[i] = c.do(a, user) })
			applied := 0
			for i := range presses {
				require.NoError(t, errs[i], "%s round %d", c.action, round)
				if results[i].Applied {
					applied++
				}
				require.Equal(t, results[0].Audit, results[i].Audit, "every press answers with the one row")
				require.Equal(t, results[0].Entry, results[i].Entry, "every press answers with the one ledger row")
			}
			require.Equal(t, 1, applied, "%s round %d", c.action, round)
			got := results[0].Audit
			require.Equal(t, shop.AuditEntry{
				ID: got.ID, OpKey: a.OpKey, AdminID: owner, Action: c.action, TargetID: user,
				Before: got.Before, After: got.After, Note: "why", UpdateID: 500 + user, CreatedAt: now,
			}, got)
			require.Equal(t, 1, e.count(t, `SELECT count(*) FROM admin_audit WHERE op_key = $1`, a.OpKey))
			c.check(t, user, 1)

			if c.again {
				r, err := c.do(shop.Act{OpKey: a.OpKey + ":again", AdminID: owner}, user)
				require.NoError(t, err)
				require.True(t, r.Applied, "%s with another key", c.action)
				c.check(t, user, 2)
			}
		}
	}
	e.requireLedgerMatchesBalances(t)
}

func TestAnOpKeyOfAnotherActionIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1, 2)
	_, err := e.shop.Ban(t.Context(), act("press-1"), 1)
	require.NoError(t, err)
	_, err = e.shop.Unban(t.Context(), act("press-1"), 1)
	require.ErrorIs(t, err, shop.ErrActConflict)
	_, err = e.shop.Ban(t.Context(), act("press-1"), 2)
	require.ErrorIs(t, err, shop.ErrActConflict)
	banned, err := e.shop.Banned(t.Context(), 2)
	require.NoError(t, err)
	require.Nil(t, banned, "the refused action did nothing")

	_, err = e.shop.Ban(t.Context(), shop.Act{AdminID: owner}, 1)
	require.Error(t, err, "an action without a key")
	_, err = e.shop.Ban(t.Context(), shop.Act{OpKey: "press-2"}, 1)
	require.Error(t, err, "an action without an admin")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM admin_audit`))
}

func TestAdminExtendAddsToWhatThePeriodIs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	e.addUser(t, 1, 2, 3, 4)

	// Running: from its expiry.
	running := e.pay(t, e.order(t, 1, "m1", shop.ProviderCryptoPay))
	// Expired, not revoked yet: from now, the same period (and key).
	e.clock.Advance(-40 * day)
	expired := e.pay(t, e.order(t, 2, "m1", shop.ProviderCryptoPay))
	// Revoked: a new period.
	revoked := e.pay(t, e.order(t, 3, "m1", shop.ProviderCryptoPay))
	e.clock.Advance(40 * day)
	_, err := e.pool.Exec(t.Context(), `UPDATE subscriptions SET status = 'revoked', revoked_at = $2 WHERE id = $1`, revoked.ID, now)
	require.NoError(t, err)

	for _, c := range []struct {
		user        int64
		before      map[string]any
		sameAs      int64
		wantExpires time.Time
	}{
		{1, map[string]any{"subscription_id": json.Number(fmt.Sprint(running.ID)), "expires_at": stamp(running.ExpiresAt)}, running.ID, now.Add(40 * day)},
		{2, map[string]any{"subscription_id": json.Number(fmt.Sprint(expired.ID)), "expires_at": stamp(expired.ExpiresAt)}, expired.ID, now.Add(10 * day)},
		{3, map[string]any{"subscription_id": nil, "expires_at": nil}, 0, now.Add(10 * day)},
		{4, map[string]any{"subscription_id": nil, "expires_at": nil}, 0, now.Add(10 * day)},
	} {
		r, err := e.shop.AdminExtend(t.Context(), act(fmt.Sprintf("extend:%d", c.user)), c.user, 10*day+time.Millisecond)
		require.NoError(t, err)
		require.True(t, r.Applied)
		require.Equal(t, c.wantExpires, r.Subscription.ExpiresAt, "user %d", c.user)
		require.Equal(t, shop.StatusActive, r.Subscription.Status)
		if c.sameAs != 0 {
			require.Equal(t, c.sameAs, r.Subscription.ID, "user %d keeps their period", c.user)
		} else {
			require.Equal(t, now, r.Subscription.StartsAt, "user %d gets a new period from now", c.user)
		}
		require.Equal(t, c.before, r.Audit.Before, "user %d", c.user)
		require.Equal(t, map[string]any{
			"subscription_id": json.Number(fmt.Sprint(r.Subscription.ID)), "expires_at": stamp(c.wantExpires),
		}, r.Audit.After, "user %d", c.user)
		require.Equal(t, &shop.Entry{
			ID: r.Entry.ID, OpKey: fmt.Sprintf("grant:extend:%d", c.user), UserID: c.user, Kind: shop.LedgerGrant,
			Duration: 10 * day, SubscriptionID: r.Subscription.ID, Ref: shop.ActionExtend, CreatedAt: now,
		}, r.Entry, "whole seconds, as every time the shop stores")
	}
	require.Equal(t, 2, e.count(t, `SELECT count(*) FROM subscriptions WHERE user_id = 3`))

	_, err = e.shop.AdminExtend(t.Context(), act("extend:nobody"), 99, day)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	_, err = e.shop.AdminExtend(t.Context(), act("extend:nothing"), 1, time.Millisecond)
	require.Error(t, err, "less than a second is nothing")
	require.Equal(t, 4, e.count(t, `SELECT count(*) FROM admin_audit`), "refused actions are not recorded")
}

func TestShortenAndEndNeverGoBelowNow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	e.addUser(t, 1, 2)
	sub := e.pay(t, e.order(t, 1, "m1", shop.ProviderCryptoPay))

	r, err := e.shop.AdminExtend(t.Context(), act("shorten-1"), 1, -10*day)
	require.NoError(t, err)
	require.Equal(t, now.Add(20*day), r.Subscription.ExpiresAt)
	require.Equal(t, -10*day, r.Entry.Duration)
	require.Equal(t, map[string]any{"subscription_id": json.Number(fmt.Sprint(sub.ID)), "expires_at": stamp(now.Add(30 * day))}, r.Audit.Before)
	require.Equal(t, map[string]any{"subscription_id": json.Number(fmt.Sprint(sub.ID)), "expires_at": stamp(now.Add(20 * day))}, r.Audit.After)

	e.clock.Advance(5 * day)
	r, err = e.shop.AdminExtend(t.Context(), act("shorten-2"), 1, -100*day)
	require.NoError(t, err)
	require.Equal(t, e.clock.Now(), r.Subscription.ExpiresAt, "not below now")
	require.Equal(t, -15*day, r.Entry.Duration, "only what was left is taken")
	require.Equal(t, sub.ID, r.Entry.SubscriptionID)

	_, err = e.shop.AdminExtend(t.Context(), act("shorten-3"), 1, -day)
	require.ErrorIs(t, err, shop.ErrNothingActive)
	_, err = e.shop.AdminEndNow(t.Context(), act("end-1"), 1)
	require.ErrorIs(t, err, shop.ErrNothingActive, "it has ended already")
	_, err = e.shop.AdminEndNow(t.Context(), act("end-2"), 2)
	require.ErrorIs(t, err, shop.ErrNothingActive, "no period at all")
	_, err = e.shop.AdminEndNow(t.Context(), act("end-3"), 99)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	require.Equal(t, 2, e.count(t, `SELECT count(*) FROM admin_audit`), "refused actions are not recorded")

	// End now: the rest is taken, and the period is revoked once its grace
	// is over, as any that ended.
	e.addUser(t, 3)
	ended := e.pay(t, e.order(t, 3, "m1", shop.ProviderCryptoPay))
	e.clock.Advance(day)
	r, err = e.shop.AdminEndNow(t.Context(), act("end-4"), 3)
	require.NoError(t, err)
	require.True(t, r.Applied)
	require.Equal(t, e.clock.Now(), r.Subscription.ExpiresAt)
	require.Equal(t, &shop.Entry{
		ID: r.Entry.ID, OpKey: "grant:end-4", UserID: 3, Kind: shop.LedgerGrant, Duration: -29 * day,
		SubscriptionID: ended.ID, Ref: shop.ActionEnd, CreatedAt: e.clock.Now(),
	}, r.Entry)
	require.Equal(t, shop.ActionEnd, r.Audit.Action)
	e.clock.Advance(grace)
	due, err := e.shop.ExpiredUnrevoked(t.Context(), grace, 10)
	require.NoError(t, err)
	require.Len(t, due, 2)
	require.Equal(t, []int64{sub.ID, ended.ID}, []int64{due[0].ID, due[1].ID}, "both ended periods are due for revocation")
}

func TestBanAndUnbanLeaveThePeriodAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	banAt := e.clock.Now()
	sub := e.trial(t, 1)

	r, err := e.shop.Ban(t.Context(), act("ban-1"), 1)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"banned_at": nil}, r.Audit.Before)
	require.Equal(t, map[string]any{"banned_at": stamp(banAt)}, r.Audit.After)
	require.Equal(t, sub.ExpiresAt, r.Subscription.ExpiresAt, "a ban does not touch the period")

	// Banned again later: the first ban stands, and the press is recorded.
	e.clock.Advance(time.Hour)
	r, err = e.shop.Ban(t.Context(), act("ban-2"), 1)
	require.NoError(t, err)
	require.True(t, r.Applied)
	require.Equal(t, r.Audit.Before, r.Audit.After)
	banned, err := e.shop.Banned(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, &banAt, banned)

	r, err = e.shop.Unban(t.Context(), act("unban-1"), 1)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"banned_at": stamp(banAt)}, r.Audit.Before)
	require.Equal(t, map[string]any{"banned_at": nil}, r.Audit.After)
	r, err = e.shop.Unban(t.Context(), act("unban-2"), 1)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"banned_at": nil}, r.Audit.Before)
	banned, err = e.shop.Banned(t.Context(), 1)
	require.NoError(t, err)
	require.Nil(t, banned)
	require.Equal(t, sub, *e.active(t, 1))

	_, err = e.shop.Ban(t.Context(), act("ban-3"), 99)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	_, err = e.shop.Banned(t.Context(), 99)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	require.Equal(t, 4, e.audits(t, 1, shop.ActionBan)+e.audits(t, 1, shop.ActionUnban))
}

func TestAGrantNeverTakesTheBalanceBelowZero(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	r, err := e.shop.AdminGrantBalance(t.Context(), act("grant-1"), 1, shop.CurrencyXTR, 500)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"currency": "XTR", "balance": json.Number("0")}, r.Audit.Before)
	require.Equal(t, map[string]any{"currency": "XTR", "balance": json.Number("500")}, r.Audit.After)
	require.Equal(t, &shop.Entry{
		ID: r.Entry.ID, OpKey: "grant:grant-1", UserID: 1, Kind: shop.LedgerGrant, Currency: shop.CurrencyXTR,
		Amount: 500, Ref: shop.ActionGrantBalance, CreatedAt: e.clock.Now(),
	}, r.Entry, "a grant moves no money: it is not revenue")

	// Ten admins take 100 each at once from 500: five can.
	for round := range 3 {
		if round > 0 {
			_, err := e.shop.AdminGrantBalance(t.Context(), act(fmt.Sprintf("refill-%d", round)), 1, shop.CurrencyXTR, 500)
			require.NoError(t, err)
		}
		var took, refused atomic.Int32
		race(10, func(i int) {
			r, err := e.shop.AdminGrantBalance(t.Context(), act(fmt.Sprintf("take-%d-%d", round, i)), 1, shop.CurrencyXTR, -100)
			switch {
			case err == nil:
				assert.True(t, r.Applied)
				took.Add(1)
			case assert.ErrorIs(t, err, shop.ErrInsufficientBalance):
				refused.Add(1)
			}
		})
		require.EqualValues(t, 5, took.Load(), "round %d", round)
		require.EqualValues(t, 5, refused.Load(), "round %d", round)
		require.Zero(t, e.balance(t, 1, shop.CurrencyXTR))
	}
	require.Equal(t, 1+2+15, e.audits(t, 1, shop.ActionGrantBalance), "a refused grant is not recorded")
	require.Equal(t, 1+2+15, e.grants(t, 1))

	_, err = e.shop.AdminGrantBalance(t.Context(), act("grant-2"), 1, "EUR", 100)
	require.ErrorIs(t, err, shop.ErrUnknownCurrency)
	_, err = e.shop.AdminGrantBalance(t.Context(), act("grant-3"), 99, shop.CurrencyUSD, 100)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	e.requireLedgerMatchesBalances(t)
}

func TestAdminReissueAsksForANewLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	_, err := e.shop.AdminReissue(t.Context(), act("reissue-1"), 1)
	require.ErrorIs(t, err, shop.ErrNoAccount)
	_, err = e.shop.AdminReissue(t.Context(), act("reissue-2"), 99)
	require.ErrorIs(t, err, shop.ErrUnknownUser)

	shoptest.SeedAccess(t, e.pool, e.trial(t, 2).ID, "outline", "ss://old")
	asked := e.clock.Now()
	r, err := e.shop.AdminReissue(t.Context(), act("reissue-3"), 2)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"rotate_requested_at": nil}, r.Audit.Before)
	require.Equal(t, map[string]any{"rotate_requested_at": stamp(asked)}, r.Audit.After)
	pending, err := e.shop.PendingRotations(t.Context(), 10)
	require.NoError(t, err)
	require.Equal(t, []int64{2}, pending)

	// Asked again before it is done: once, as the user's own request.
	e.clock.Advance(time.Minute)
	r, err = e.shop.AdminReissue(t.Context(), act("reissue-4"), 2)
	require.NoError(t, err)
	require.Equal(t, r.Audit.Before, r.Audit.After)
	require.Equal(t, 2, e.count(t, `SELECT count(*) FROM admin_audit`))
}

func TestAdminRefundIsTheRefundWithItsAuditRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	e.addUser(t, 1)
	inv := e.order(t, 1, "m1", shop.ProviderStars)
	_, _, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-1")
	require.NoError(t, err)
	e.clock.Advance(10 * day)

	r, err := e.shop.AdminRefund(t.Context(), shop.Act{OpKey: "refund-1", AdminID: owner, Note: "asked by mail"}, inv.ID)
	require.NoError(t, err)
	require.True(t, r.Applied)
	require.Equal(t, shop.RefundKey(inv.ID), r.Entry.OpKey)
	require.Equal(t, -20*day, r.Entry.Duration)
	require.EqualValues(t, -250, r.Entry.Money)
	require.Equal(t, e.clock.Now(), r.Subscription.ExpiresAt)
	id := json.Number(fmt.Sprint(inv.ID))
	require.Equal(t, map[string]any{"invoice_id": id, "expires_at": stamp(now.Add(30 * day))}, r.Audit.Before)
	require.Equal(t, map[string]any{
		"invoice_id": id, "expires_at": stamp(e.clock.Now()), "reversed": true, "currency": "XTR", "money": json.Number("250"),
	}, r.Audit.After)
	require.Equal(t, "asked by mail", r.Audit.Note)

	// /refund finds it done; another admin's refund is recorded but
	// reverses nothing: its Entry is the one reversal, to retry Telegram.
	_, applied, err := e.shop.Refund(t.Context(), inv.ID)
	require.NoError(t, err)
	require.False(t, applied)
	again, err := e.shop.AdminRefund(t.Context(), act("refund-2"), inv.ID)
	require.NoError(t, err)
	require.True(t, again.Applied)
	require.Equal(t, r.Entry, again.Entry)
	require.Equal(t, map[string]any{"invoice_id": id, "reversed": false}, again.Audit.After)
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM ledger WHERE kind = 'refund'`))

	// A top-up: its credit is taken back from the balance.
	top, err := e.shop.CreateStarsTopUpOnce(t.Context(), "press-1", 1, 300)
	require.NoError(t, err)
	_, _, err = e.shop.ApplyPayment(t.Context(), top.ID, "charge-2")
	require.NoError(t, err)
	r, err = e.shop.AdminRefund(t.Context(), act("refund-3"), top.ID)
	require.NoError(t, err)
	require.Equal(t, json.Number("300"), r.Audit.Before["balance"])
	require.Equal(t, json.Number("0"), r.Audit.After["balance"])

	// Refused refunds record nothing.
	unpaid := e.order(t, 1, "m3", shop.ProviderCryptoPay)
	_, err = e.shop.AdminRefund(t.Context(), act("refund-4"), unpaid.ID)
	require.ErrorIs(t, err, shop.ErrNotPaid)
	spent, err := e.shop.CreateStarsTopUpOnce(t.Context(), "press-2", 1, 300)
	require.NoError(t, err)
	_, _, err = e.shop.ApplyPayment(t.Context(), spent.ID, "charge-3")
	require.NoError(t, err)
	_, _, err = e.shop.BuyFromBalance(t.Context(), "purchase:1", 1, "m1", shop.CurrencyXTR)
	require.NoError(t, err)
	_, err = e.shop.AdminRefund(t.Context(), act("refund-5"), spent.ID)
	require.ErrorIs(t, err, shop.ErrInsufficientBalance)
	_, err = e.shop.AdminRefund(t.Context(), act("refund-6"), 999999)
	require.ErrorIs(t, err, shop.ErrUnknownInvoice)
	require.Equal(t, 3, e.audits(t, 1, shop.ActionRefund))
	e.requireLedgerMatchesBalances(t)
}

func TestAdminMessageIsRecordedOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	r, err := e.shop.AdminMessage(t.Context(), act("msg-1"), 1, "Your refund is on its way")
	require.NoError(t, err)
	require.Nil(t, r.Audit.Before)
	require.Equal(t, map[string]any{"text": "Your refund is on its way"}, r.Audit.After)
	require.Nil(t, r.Entry)
	require.Nil(t, r.Subscription)
	_, err = e.shop.AdminMessage(t.Context(), act("msg-2"), 99, "Hi")
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	_, err = e.shop.AdminMessage(t.Context(), act("msg-3"), 1, "")
	require.Error(t, err)
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM admin_audit`))
}

func TestAnExtendRacingPaymentsRecordsThePeriodItExtended(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	for round := range 6 {
		user := int64(round + 1)
		e.addUser(t, user)
		const payments = 4
		var orders [payments]shop.Invoice
		for i := range orders {
			orders[i] = e.order(t, user, "m1", shop.ProviderStars)
		}
		var r shop.AdminResult
		race(payments+1, func(i int) {
			if i == payments {
				var err error
				r, err = e.shop.AdminExtend(t.Context(), act(fmt.Sprintf("extend:%d", user)), user, 7*day)
				assert.NoError(t, err)
				return
			}
			_, applied, err := e.shop.ApplyPayment(t.Context(), orders[i].ID, fmt.Sprintf("charge-%d", orders[i].ID))
			assert.NoError(t, err)
			assert.True(t, applied)
		})
		require.True(t, r.Applied)
		require.Equal(t, now.Add(payments*30*day+7*day), e.active(t, user).ExpiresAt, "round %d", round)
		after, err := time.Parse(time.RFC3339, r.Audit.After["expires_at"].(string))
		require.NoError(t, err)
		if r.Audit.Before["expires_at"] == nil {
			require.Equal(t, now.Add(7*day), after, "round %d: the extend started the period", round)
			continue
		}
		before, err := time.Parse(time.RFC3339, r.Audit.Before["expires_at"].(string))
		require.NoError(t, err)
		require.Equal(t, 7*day, after.Sub(before), "round %d: before and after are of one period, the week apart", round)
	}
}

func TestARefundsKeyReusedForAnotherInvoiceIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	var invs [2]shop.Invoice
	for i := range invs {
		invs[i] = e.order(t, 1, "m1", shop.ProviderStars)
		_, _, err := e.shop.ApplyPayment(t.Context(), invs[i].ID, fmt.Sprintf("charge-%d", i))
		require.NoError(t, err)
	}
	_, err := e.shop.AdminRefund(t.Context(), act("refund-1"), invs[0].ID)
	require.NoError(t, err)
	_, err = e.shop.AdminRefund(t.Context(), act("refund-1"), invs[1].ID)
	require.ErrorIs(t, err, shop.ErrActConflict)
	_, err = e.shop.EntryByKey(t.Context(), shop.RefundKey(invs[1].ID))
	require.ErrorIs(t, err, shop.ErrUnknownEntry, "the second invoice is not refunded")
}

func TestConcurrentChangesOfOnePeriodChainTheirAuditRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	for round := range 4 {
		user := int64(round + 1)
		e.addUser(t, user)
		sub := e.pay(t, e.order(t, user, "m1", shop.ProviderCryptoPay))
		// Eight admins at once: four add three days, four take one.
		race(8, func(i int) {
			d := 3 * day
			if i%2 == 1 {
				d = -day
			}
			_, err := e.shop.AdminExtend(t.Context(), act(fmt.Sprintf("change:%d:%d", user, i)), user, d)
			assert.NoError(t, err)
		})
		want := now.Add(30*day + 4*3*day - 4*day)
		require.Equal(t, want, e.active(t, user).ExpiresAt, "round %d", round)
		// Each row starts where the one before it left the period: the
		// trail replays to the period as it is.
		rows, err := e.shop.Audit(t.Context(), user, 20)
		require.NoError(t, err)
		require.Len(t, rows, 8)
		at := stamp(sub.ExpiresAt)
		for i := len(rows) - 1; i >= 0; i-- {
			require.Equal(t, at, rows[i].Before["expires_at"], "round %d, row %d", round, rows[i].ID)
			at = rows[i].After["expires_at"].(string)
		}
		require.Equal(t, stamp(want), at)
	}
	e.requireLedgerMatchesBalances(t)
}
