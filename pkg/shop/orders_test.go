package shop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestOrdersShowTheirSteps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.trial(t, 1)
	ordered := e.clock.Now()
	inv := e.order(t, 1, "m1", shop.ProviderCryptoPay)

	// Activation delivers the trial's key; then the order is paid and told.
	e.clock.Advance(time.Minute)
	keyAt := e.clock.Now()
	_, err := e.pool.Exec(t.Context(), `INSERT INTO notifications_sent (subscription_id, kind, expires_at, sent_at) VALUES ($1, 'key', $2, $2)`,
		sub.ID, keyAt)
	require.NoError(t, err)
	e.clock.Advance(time.Minute)
	paidAt := e.clock.Now()
	e.pay(t, inv)
	e.clock.Advance(time.Second)
	toldAt := e.clock.Now()
	require.NoError(t, e.shop.MarkAnnounced(t.Context(), inv.ID))
	unpaid := e.order(t, 1, "m3", shop.ProviderStars)

	orders, err := e.shop.Orders(t.Context(), 1, 10)
	require.NoError(t, err)
	require.Len(t, orders, 2)
	require.Equal(t, unpaid.ID, orders[0].Invoice.ID, "newest first")
	require.Nil(t, orders[0].Invoice.PaidAt)
	require.Nil(t, orders[0].ToldAt)
	require.Nil(t, orders[0].KeyAt)
	paid := orders[1]
	require.Equal(t, inv.ID, paid.Invoice.ID)
	require.Equal(t, ordered, paid.Invoice.CreatedAt)
	require.Equal(t, paidAt, *paid.Invoice.PaidAt)
	require.Equal(t, toldAt, *paid.ToldAt)
	require.Equal(t, keyAt, *paid.KeyAt, "the period's key, delivered before this payment extended it")

	other, err := e.shop.Orders(t.Context(), 2, 10)
	require.NoError(t, err)
	require.Empty(t, other)
}
