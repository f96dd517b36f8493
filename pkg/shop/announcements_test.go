package shop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestUnannouncedPaymentsAreListedUntilMarked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	later := e.order(t, 1, "m1", shop.ProviderCryptoPay)
	first := e.order(t, 1, "m3", shop.ProviderCryptoPay)
	e.order(t, 1, "m12", shop.ProviderCryptoPay) // pending: nothing to announce
	stars := e.order(t, 1, "m1", shop.ProviderStars)
	e.pay(t, first)
	e.clock.Advance(time.Minute)
	e.pay(t, later)
	e.pay(t, stars)

	unannounced := func(limit int) []int64 {
		t.Helper()
		invs, err := e.shop.UnannouncedPayments(t.Context(), shop.ProviderCryptoPay, limit)
		require.NoError(t, err)
		var ids []int64
		for _, inv := range invs {
			require.Equal(t, shop.InvoicePaid, inv.Status)
			require.NotZero(t, inv.SubscriptionID, "the period it paid for")
			ids = append(ids, inv.ID)
		}
		return ids
	}
	require.Equal(t, []int64{first.ID, later.ID}, unannounced(10), "oldest payment first, Crypto Pay only")
	require.Equal(t, []int64{first.ID}, unannounced(1))

	require.NoError(t, e.shop.MarkAnnounced(t.Context(), first.ID))
	require.Equal(t, []int64{later.ID}, unannounced(10))
	var announcedAt time.Time
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT announced_at FROM invoices WHERE id = $1`, first.ID).Scan(&announcedAt))
	e.clock.Advance(time.Minute)
	require.NoError(t, e.shop.MarkAnnounced(t.Context(), first.ID), "marking again")
	var again time.Time
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT announced_at FROM invoices WHERE id = $1`, first.ID).Scan(&again))
	require.True(t, again.Equal(announcedAt), "the first announcement's time is kept")

	pending := e.order(t, 1, "m1", shop.ProviderCryptoPay)
	require.NoError(t, e.shop.MarkAnnounced(t.Context(), pending.ID), "not paid: nothing to mark")
	require.Zero(t, e.count(t, `SELECT count(*) FROM invoices WHERE id = $1 AND announced_at IS NOT NULL`, pending.ID))
	_, err := e.pool.Exec(t.Context(), `UPDATE invoices SET announced_at = now() WHERE id = $1`, pending.ID)
	requireSQLState(t, err, "23514", "an unpaid invoice announced")

	require.NoError(t, e.shop.MarkAnnounced(t.Context(), later.ID))
	require.Empty(t, unannounced(10))
}

func TestAStarsPaymentIsAnnouncedOnceMarked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	stars := e.order(t, 1, "m1", shop.ProviderStars)
	payload := shop.StarsPayload(stars.ID)
	e.pay(t, stars)

	announced, err := e.shop.StarsAnnounced(t.Context(), payload)
	require.NoError(t, err)
	require.False(t, announced, "paid, not yet confirmed")
	require.NoError(t, e.shop.MarkStarsAnnounced(t.Context(), payload))
	announced, err = e.shop.StarsAnnounced(t.Context(), payload)
	require.NoError(t, err)
	require.True(t, announced)

	_, err = e.shop.StarsAnnounced(t.Context(), "order:999999")
	require.ErrorIs(t, err, shop.ErrCheckoutMismatch, "no such order")
	require.ErrorIs(t, e.shop.MarkStarsAnnounced(t.Context(), "not-an-order"), shop.ErrCheckoutMismatch)
}
