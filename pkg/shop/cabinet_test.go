package shop_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/shop/shoptest"
)

// The cabinet is the user, their active period with its key and where it
// is, and their balances, as the separate reads give them.
func TestTheCabinetIsTheUsersPeriodKeyAndBalances(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const user, bare = 61001, 61002
	sub := e.trial(t, user)
	_, err := e.pool.Exec(t.Context(), `UPDATE users SET first_name = 'Ann', username = 'ann', language = 'ru' WHERE id = $1`, user)
	require.NoError(t, err)
	shoptest.SeedAccess(t, e.pool, sub.ID, "fra-1", "ss://key@fra.example.com:443/?outline=1")
	_, err = e.pool.Exec(t.Context(), `INSERT INTO vpn_panels (name, kind, location, weight, capacity, position)
		VALUES ('fra-1', 'outline', 'Frankfurt', 1, 0, 0)`)
	require.NoError(t, err)
	_, err = e.shop.AdminGrantBalance(t.Context(), shop.Act{OpKey: "cabinet:1", AdminID: 1}, user, shop.CurrencyXTR, 40)
	require.NoError(t, err)
	_, err = e.shop.AdminGrantBalance(t.Context(), shop.Act{OpKey: "cabinet:2", AdminID: 1}, user, shop.CurrencyUSD, 250)
	require.NoError(t, err)

	c, err := e.shop.Cabinet(t.Context(), user)
	require.NoError(t, err)
	active, err := e.shop.ActiveSubscription(t.Context(), user)
	require.NoError(t, err)
	balances, err := e.shop.Balances(t.Context(), user)
	require.NoError(t, err)
	require.Equal(t, shop.Cabinet{ID: user, FirstName: "Ann", Username: "ann", Language: "ru", Subscription: active,
		Location: "Frankfurt", Balances: balances}, c)
	require.Equal(t, []shop.Balance{{Currency: shop.CurrencyUSD, Amount: 250}, {Currency: shop.CurrencyXTR, Amount: 40}}, c.Balances)
	require.Equal(t, "ss://key@fra.example.com:443/?outline=1", c.Subscription.Access.URL)

	e.addUser(t, bare)
	c, err = e.shop.Cabinet(t.Context(), bare)
	require.NoError(t, err)
	require.Nil(t, c.Subscription, "no period")
	require.Empty(t, c.Location)
	require.Empty(t, c.Balances)

	_, err = e.shop.Cabinet(t.Context(), 61999)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
}
