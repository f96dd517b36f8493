package shop_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestARefundRedeliveredReversesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for round := range 5 {
		user := int64(round + 1)
		e.addUser(t, user)
		first := e.order(t, user, "m1", shop.ProviderStars)
		_, _, err := e.shop.ApplyPayment(t.Context(), first.ID, fmt.Sprintf("charge-a-%d", round))
		require.NoError(t, err)
		second := e.order(t, user, "m3", shop.ProviderStars)
		_, _, err = e.shop.ApplyPayment(t.Context(), second.ID, fmt.Sprintf("charge-b-%d", round))
		require.NoError(t, err)
		require.Equal(t, e.clock.Now().Add(120*day), e.active(t, user).ExpiresAt)

		var applied atomic.Int32
		race(8, func(int) {
			_, ok, err := e.shop.Refund(t.Context(), first.ID)
			if assert.NoError(t, err) && ok {
				applied.Add(1)
			}
		})
		require.EqualValues(t, 1, applied.Load(), "round %d", round)
		require.Equal(t, e.clock.Now().Add(90*day), e.active(t, user).ExpiresAt, "the refunded month is taken back once")
		r, err := e.shop.EntryByKey(t.Context(), shop.RefundKey(first.ID))
		require.NoError(t, err)
		require.Equal(t, shop.Entry{
			ID: r.ID, OpKey: shop.RefundKey(first.ID), UserID: user, Kind: shop.LedgerRefund, Currency: shop.CurrencyXTR,
			Money: -250, Duration: -30 * day, SubscriptionID: e.active(t, user).ID, InvoiceID: first.ID,
			Ref: fmt.Sprintf("payment:%d", first.ID), CreatedAt: e.clock.Now(),
		}, r)
	}
	e.requireLedgerMatchesBalances(t)
}

func TestARefundTakesBackNoMoreThanIsLeft(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	inv := e.order(t, 1, "m1", shop.ProviderStars)
	_, _, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-1")
	require.NoError(t, err)
	// Twenty days used: ten are left, and the period ends now.
	e.clock.Advance(20 * day)
	r, applied, err := e.shop.Refund(t.Context(), inv.ID)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, -10*day, r.Duration)
	require.Equal(t, e.clock.Now(), e.active(t, 1).ExpiresAt)

	// A period past its expiry gives nothing back, and is not extended.
	e.addUser(t, 2)
	late := e.order(t, 2, "m1", shop.ProviderStars)
	_, _, err = e.shop.ApplyPayment(t.Context(), late.ID, "charge-2")
	require.NoError(t, err)
	e.clock.Advance(31 * day)
	r, applied, err = e.shop.Refund(t.Context(), late.ID)
	require.NoError(t, err)
	require.True(t, applied)
	require.Zero(t, r.Duration)
	require.Zero(t, r.SubscriptionID)
	require.Equal(t, e.clock.Now().Add(-day), e.active(t, 2).ExpiresAt)
}

func TestARefundOfASpentTopUpIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	inv, err := e.shop.CreateStarsTopUpOnce(t.Context(), "press-1", 1, 300)
	require.NoError(t, err)
	_, _, err = e.shop.ApplyPayment(t.Context(), inv.ID, "charge-1")
	require.NoError(t, err)
	_, _, err = e.shop.BuyFromBalance(t.Context(), "purchase:1", 1, "m1", shop.CurrencyXTR)
	require.NoError(t, err)

	_, _, err = e.shop.Refund(t.Context(), inv.ID)
	require.ErrorIs(t, err, shop.ErrInsufficientBalance, "250 of the 300 stars were spent")
	_, err = e.shop.EntryByKey(t.Context(), shop.RefundKey(inv.ID))
	require.ErrorIs(t, err, shop.ErrUnknownEntry)

	unpaid, err := e.shop.CreateStarsTopUpOnce(t.Context(), "press-2", 1, 100)
	require.NoError(t, err)
	_, _, err = e.shop.Refund(t.Context(), unpaid.ID)
	require.ErrorIs(t, err, shop.ErrNotPaid)

	e.topUp(t, 1, 250)
	r, applied, err := e.shop.Refund(t.Context(), inv.ID)
	require.NoError(t, err)
	require.True(t, applied)
	require.EqualValues(t, -300, r.Amount)
	bal, err := e.shop.Balance(t.Context(), 1, shop.CurrencyXTR)
	require.NoError(t, err)
	require.EqualValues(t, 0, bal)
	e.requireLedgerMatchesBalances(t)
}
