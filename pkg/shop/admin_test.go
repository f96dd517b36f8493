package shop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestStatsCountTodaysBusiness(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Noon, so that "an hour ago" is today and "two days ago" is not.
	now := e.clock.Now()
	e.clock.Advance(time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, time.UTC).Sub(now))
	e.addUser(t, 1, 2, 3, 4, 5)

	// Yesterday's business: a trial (still running) and a payment.
	e.clock.Advance(-2 * day)
	_, err := e.shop.StartTrial(t.Context(), 1)
	require.NoError(t, err)
	e.pay(t, e.order(t, 2, "m12", shop.ProviderCryptoPay))
	e.clock.Advance(2 * day)

	// Today's: two Crypto Pay payments, one in Stars, an unpaid order, a
	// trial, and a period that has run out.
	e.pay(t, e.order(t, 3, "m1", shop.ProviderCryptoPay))
	e.pay(t, e.order(t, 3, "m3", shop.ProviderCryptoPay))
	_, _, err = e.shop.ApplyStarsPayment(t.Context(), 4, shop.StarsPayload(e.order(t, 4, "m3", shop.ProviderStars).ID), "c", 650)
	require.NoError(t, err)
	e.order(t, 5, "m12", shop.ProviderStars)
	_, err = e.shop.StartTrial(t.Context(), 5)
	require.NoError(t, err)
	_, err = e.shop.StartTrial(t.Context(), 4)
	require.ErrorIs(t, err, shop.ErrAlreadySubscribed)

	// A top-up in Stars, and a refund of the Stars payment.
	e.topUp(t, 5, 300)
	_, _, err = e.shop.Refund(t.Context(), e.invoiceOf(t, 4).ID)
	require.NoError(t, err)

	// User 3 renews automatically.
	e.autoRenew(t, 3, true, "")

	st, err := e.shop.Stats(t.Context())
	require.NoError(t, err)
	require.Equal(t, shop.Stats{
		Users: 5, ActiveSubscriptions: 5, Trials: 2, PaymentsToday: 4, RevenueTodayUSD: "17.98", StarsToday: 300, AutoRenewals: 1,
		Sources: []shop.Revenue{
			{Kind: shop.LedgerPayment, Currency: shop.CurrencyUSD, Count: 2, Money: 1798},
			{Kind: shop.LedgerPayment, Currency: shop.CurrencyXTR, Count: 1, Money: 650},
			{Kind: shop.LedgerTopUp, Currency: shop.CurrencyXTR, Count: 1, Money: 300},
			{Kind: shop.LedgerRefund, Currency: shop.CurrencyXTR, Count: 1, Money: -650},
		},
	}, st)

	e.clock.Advance(2 * day) // user 1's trial (started 2 days ago, 3 days long) runs out
	st, err = e.shop.Stats(t.Context())
	require.NoError(t, err)
	require.Equal(t, shop.Stats{
		Users: 5, ActiveSubscriptions: 3, Trials: 2, PaymentsToday: 0, RevenueTodayUSD: "0.00", StarsToday: 0, Sources: []shop.Revenue{},
		AutoRenewals: 1,
	}, st)
}

// invoiceOf is the user's latest invoice.
func (e *env) invoiceOf(t *testing.T, user int64) shop.Invoice {
	t.Helper()
	var id int64
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT max(id) FROM invoices WHERE user_id = $1`, user).Scan(&id))
	return e.invoice(t, id)
}

func TestUserInfoShowsTheUsersHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.pool.Exec(t.Context(), `INSERT INTO users (id, chat_id, username, first_name, language_code, language, start_param)
		VALUES (7, 70, 'ann', 'Ann', 'ru-RU', 'ru', 'ads')`)
	require.NoError(t, err)
	trialAt := e.clock.Now()
	trial, err := e.shop.StartTrial(t.Context(), 7)
	require.NoError(t, err)
	var invs []shop.Invoice
	for range 12 {
		e.clock.Advance(time.Minute)
		invs = append(invs, e.order(t, 7, "m1", shop.ProviderStars))
	}
	e.pay(t, invs[11])

	u, err := e.shop.UserInfo(t.Context(), 7)
	require.NoError(t, err)
	require.Equal(t, int64(7), u.ID)
	require.Equal(t, int64(70), u.ChatID)
	require.Equal(t, "ann", u.Username)
	require.Equal(t, "Ann", u.FirstName)
	require.Equal(t, "ru-RU", u.LanguageCode)
	require.Equal(t, "ru", u.Language)
	require.Equal(t, "ads", u.StartParam)
	require.Nil(t, u.BlockedAt)
	require.Equal(t, trialAt, *u.Trial)
	require.Equal(t, trial.ID, u.Subscription.ID)
	require.Equal(t, trial.ExpiresAt.Add(30*day), u.Subscription.ExpiresAt)
	require.Len(t, u.Invoices, 10, "the latest ten")
	require.Equal(t, invs[11].ID, u.Invoices[0].ID, "newest first")
	require.Equal(t, shop.InvoicePaid, u.Invoices[0].Status)
	require.Equal(t, invs[2].ID, u.Invoices[9].ID)

	_, err = e.pool.Exec(t.Context(), `INSERT INTO users (id) VALUES (8)`)
	require.NoError(t, err)
	u, err = e.shop.UserInfo(t.Context(), 8)
	require.NoError(t, err)
	require.Nil(t, u.Trial)
	require.Nil(t, u.Subscription)
	require.Empty(t, u.Invoices)
	require.Equal(t, "en", u.Language)

	_, err = e.shop.UserInfo(t.Context(), 9)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
}
