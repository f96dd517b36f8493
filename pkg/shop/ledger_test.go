package shop_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// topUp orders and pays a Stars top-up of stars for the user.
func (e *env) topUp(t *testing.T, userID, stars int64) {
	t.Helper()
	inv, err := e.shop.CreateStarsTopUpOnce(t.Context(), fmt.Sprintf("topup-%d-%d", userID, time.Now().UnixNano()), userID, stars)
	require.NoError(t, err)
	sub, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, fmt.Sprintf("charge-%d", inv.ID))
	require.NoError(t, err)
	require.True(t, applied)
	require.Zero(t, sub.ID, "a top-up buys no period")
}

// requireLedgerMatchesBalances checks the ledger's invariants over the
// whole schema: every balance is the sum of its rows, none is negative.
func (e *env) requireLedgerMatchesBalances(t *testing.T) {
	t.Helper()
	require.Zero(t, e.count(t, `
		SELECT count(*) FROM (
			SELECT user_id, currency, sum(amount) AS total FROM ledger WHERE amount <> 0 GROUP BY user_id, currency
		) l FULL JOIN balances b USING (user_id, currency)
		WHERE COALESCE(l.total, 0) <> COALESCE(b.amount, 0)`), "a balance differs from the sum of its ledger rows")
	require.Zero(t, e.count(t, `SELECT count(*) FROM balances WHERE amount < 0`))
}

func TestTopUpsAndPurchasesFromTheBalanceAreLedgerRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	e.topUp(t, 1, 600)
	bal, err := e.shop.Balance(t.Context(), 1, shop.CurrencyXTR)
	require.NoError(t, err)
	require.EqualValues(t, 600, bal)

	p, applied, err := e.shop.BuyFromBalance(t.Context(), "purchase:press-1", 1, "m1", shop.CurrencyXTR)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, e.clock.Now().Add(30*day), p.Sub.ExpiresAt)
	require.Equal(t, shop.Entry{
		ID: p.Entry.ID, OpKey: "purchase:press-1", UserID: 1, Kind: shop.LedgerPurchase, Currency: shop.CurrencyXTR,
		Amount: -250, Duration: 30 * day, SubscriptionID: p.Sub.ID, Ref: "m1", CreatedAt: e.clock.Now(),
	}, p.Entry)

	// The press again: the same purchase, nothing more taken.
	again, applied, err := e.shop.BuyFromBalance(t.Context(), "purchase:press-1", 1, "m1", shop.CurrencyXTR)
	require.NoError(t, err)
	require.False(t, applied)
	require.Equal(t, p.Entry, again.Entry)

	_, _, err = e.shop.BuyFromBalance(t.Context(), "purchase:press-2", 1, "m3", shop.CurrencyXTR)
	require.ErrorIs(t, err, shop.ErrInsufficientBalance, "650 stars from 350")
	_, _, err = e.shop.BuyFromBalance(t.Context(), "purchase:press-3", 1, "m1", shop.CurrencyUSD)
	require.ErrorIs(t, err, shop.ErrInsufficientBalance, "no USD balance at all")
	require.Equal(t, e.clock.Now().Add(30*day), e.active(t, 1).ExpiresAt, "a refused purchase grants nothing")

	bals, err := e.shop.Balances(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, []shop.Balance{{Currency: shop.CurrencyXTR, Amount: 350}}, bals)
	hist, err := e.shop.History(t.Context(), 1, 10)
	require.NoError(t, err)
	require.Len(t, hist, 2)
	require.Equal(t, []string{shop.LedgerPurchase, shop.LedgerTopUp}, []string{hist[0].Kind, hist[1].Kind}, "newest first")
	require.Equal(t, shop.Entry{
		ID: hist[1].ID, OpKey: fmt.Sprintf("topup:%d", hist[1].InvoiceID), UserID: 1, Kind: shop.LedgerTopUp,
		Currency: shop.CurrencyXTR, Amount: 600, Money: 600, InvoiceID: hist[1].InvoiceID, CreatedAt: e.clock.Now(),
	}, hist[1])
	e.requireLedgerMatchesBalances(t)
}

func TestConcurrentPurchasesNeverTakeTheBalanceBelowZero(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for round := range 5 {
		user := int64(round + 1)
		e.addUser(t, user)
		e.topUp(t, user, 1100) // four plans of 250, and 100 over
		const buyers = 16
		var bought, refused atomic.Int32
		race(buyers, func(i int) {
			_, _, err := e.shop.BuyFromBalance(t.Context(), fmt.Sprintf("purchase:%d:%d", user, i), user, "m1", shop.CurrencyXTR)
			switch {
			case err == nil:
				bought.Add(1)
			case assert.ErrorIs(t, err, shop.ErrInsufficientBalance):
				refused.Add(1)
			}
		})
		require.EqualValues(t, 4, bought.Load(), "round %d", round)
		require.EqualValues(t, buyers-4, refused.Load(), "round %d", round)
		bal, err := e.shop.Balance(t.Context(), user, shop.CurrencyXTR)
		require.NoError(t, err)
		require.EqualValues(t, 100, bal, "round %d", round)
		require.Equal(t, e.clock.Now().Add(4*30*day), e.active(t, user).ExpiresAt, "each purchase adds its month, round %d", round)
	}
	e.requireLedgerMatchesBalances(t)
}

func TestOnePaymentReportedManyTimesIsOneLedgerRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for round := range 5 {
		user := int64(round + 1)
		e.addUser(t, user)
		plan := e.order(t, user, "m1", shop.ProviderCryptoPay)
		topUp, err := e.shop.CreateStarsTopUpOnce(t.Context(), fmt.Sprintf("press-%d", round), user, 500)
		require.NoError(t, err)
		// The webhook, the poll and three watcher replicas report each.
		var applied atomic.Int32
		race(10, func(i int) {
			inv := plan
			if i%2 == 1 {
				inv = topUp
			}
			charge := ""
			if inv.Provider == shop.ProviderStars {
				charge = "charge-" + fmt.Sprint(inv.ID)
			}
			_, ok, err := e.shop.ApplyPayment(t.Context(), inv.ID, charge)
			if !assert.NoError(t, err, "applying invoice %d", inv.ID) {
				return
			}
			if ok {
				applied.Add(1)
			}
		})
		require.EqualValues(t, 2, applied.Load(), "each of the two invoices applied once, round %d", round)
		require.Equal(t, 2, e.count(t, `SELECT count(*) FROM ledger WHERE user_id = $1`, user))
		require.Equal(t, e.clock.Now().Add(30*day), e.active(t, user).ExpiresAt)
		bal, err := e.shop.Balance(t.Context(), user, shop.CurrencyXTR)
		require.NoError(t, err)
		require.EqualValues(t, 500, bal)
		pay, err := e.shop.EntryByKey(t.Context(), fmt.Sprintf("payment:%d", plan.ID))
		require.NoError(t, err)
		require.Equal(t, shop.Entry{
			ID: pay.ID, OpKey: fmt.Sprintf("payment:%d", plan.ID), UserID: user, Kind: shop.LedgerPayment,
			Currency: shop.CurrencyUSD, Money: 499, Duration: 30 * day, SubscriptionID: e.active(t, user).ID,
			InvoiceID: plan.ID, Ref: "m1", CreatedAt: e.clock.Now(),
		}, pay, "the period's extension records the payment that paid for it")
	}
	e.requireLedgerMatchesBalances(t)
}

func TestTheLedgerIsAppendOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	e.topUp(t, 1, 100)
	for _, sql := range []string{
		`UPDATE ledger SET amount = 1000`,
		`DELETE FROM ledger`,
		`TRUNCATE ledger CASCADE`,
	} {
		_, err := e.pool.Exec(t.Context(), sql)
		require.ErrorContains(t, err, "append-only", sql)
	}
	_, err := e.pool.Exec(t.Context(), `INSERT INTO ledger (op_key, user_id, kind, currency, amount, created_at)
		VALUES ('grant:overdraw', 1, 'grant', 'XTR', -101, now())`)
	require.ErrorContains(t, err, "balances_amount_check", "no row may take a balance below zero")
	e.requireLedgerMatchesBalances(t)
}

func TestParseCents(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"4.99": 499, "5": 500, "5.5": 550, "0.07": 7, "1000.00": 100000} {
		got, err := shop.ParseCents(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	require.Equal(t, "4.99", shop.FormatCents(499))
	require.Equal(t, "0.07", shop.FormatCents(7))
	require.Equal(t, "-2.50", shop.FormatCents(-250))
	for _, in := range []string{"", "abc", "1.234", "-1.00", "1.x", "184467440737095518", "92233720368547758.07"} {
		_, err := shop.ParseCents(in)
		require.Error(t, err, in)
	}
}
