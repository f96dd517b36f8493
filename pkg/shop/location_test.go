package shop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// twoLocations is a fleet of a sandbox panel in Amsterdam, weighted to take
// nearly every new user, and one in Frankfurt.
func twoLocations(t *testing.T) (f *vpn.Fleet, ams, fra *vpntest.Sandbox) {
	t.Helper()
	ams, fra = vpntest.StartSandbox(t, vpn.KindOutline), vpntest.StartSandbox(t, vpn.KindRemnawave)
	f, err := vpn.NewFleet([]vpn.Panel{ams.Panel, fra.Panel}, []vpn.MemberConfig{
		{Name: "ams", Location: "Amsterdam", Weight: 100},
		{Name: "fra", Location: "Frankfurt", Weight: 1},
	}, vpn.FleetOptions{Failover: true})
	require.NoError(t, err)
	return f, ams, fra
}

// choose records the location the user chose, as the bot does.
func (e *env) choose(t *testing.T, userID int64, location string) {
	t.Helper()
	_, err := e.pool.Exec(t.Context(), `UPDATE users SET location = $2 WHERE id = $1`, userID, location)
	require.NoError(t, err)
}

// onPanel reports whether the user has an account on the sandbox panel.
func onPanel(t *testing.T, sb *vpntest.Sandbox, userID int64) bool {
	t.Helper()
	_, found := sb.Account(t, vpn.AccountName(vpn.DefaultNamePrefix, userID))
	return found
}

// A new user is placed in the location they chose, whatever the weights;
// with no choice, or one no longer offered, by the weights; and while their
// location is down, elsewhere rather than not at all.
func TestTheUsersLocationDecidesWhereTheirAccountIsMade(t *testing.T) {
	t.Parallel()
	f, ams, fra := twoLocations(t)
	e := newEnv(t)
	place := func(user int64, location string) shop.Access {
		t.Helper()
		sub := e.trial(t, user)
		if location != "" {
			e.choose(t, user, location)
		}
		return e.activate(t, sub.ID, f)
	}
	for u := int64(1); u <= 3; u++ {
		acc := place(u, "Frankfurt")
		require.Equal(t, "fra", acc.Panel, "user %d chose Frankfurt", u)
		require.True(t, onPanel(t, fra, u))
		require.True(t, fra.LinkWorks(acc.URL))
	}
	require.Equal(t, "ams", place(4, "").Panel, "no choice: by weight")
	require.Equal(t, "ams", place(5, "Paris").Panel, "a location not offered: by weight")
	require.Equal(t, 3, fra.Accounts())
	require.Equal(t, 2, ams.Accounts())

	fra.Fail(false)
	acc := place(6, "Frankfurt")
	require.Equal(t, "ams", acc.Panel, "Frankfurt is down: the user's key is made elsewhere")
	require.True(t, ams.LinkWorks(acc.URL))
	fra.Clear()
	require.False(t, onPanel(t, fra, 6))
}

// An account stays where it was made when the user chooses another
// location; their next new link is made there, and the account moves: the
// new link works in the chosen location, the old one and the old account
// are gone.
func TestANewLinkMovesTheAccountToTheChosenLocation(t *testing.T) {
	t.Parallel()
	f, ams, fra := twoLocations(t)
	e := newEnv(t)
	sub := e.trial(t, 1)
	old := e.activate(t, sub.ID, f)
	require.Equal(t, "ams", old.Panel)

	e.choose(t, 1, "Frankfurt")
	e.clock.Advance(time.Minute)
	same, err := e.shop.Activate(t.Context(), sub.ID, f)
	require.NoError(t, err)
	require.Equal(t, old, same, "choosing alone changes nobody's link")

	found, err := e.shop.RequestNewLink(t.Context(), 1)
	require.NoError(t, err)
	require.True(t, found)
	rec, err := e.shop.Rotate(t.Context(), 1, f)
	require.NoError(t, err)
	require.Equal(t, "fra", rec.Panel)
	require.NotEqual(t, old.URL, rec.URL)
	requireAccount(t, fra, 1, rec.URL, true, sub.ExpiresAt)
	require.False(t, ams.LinkWorks(old.URL), "the old link still works")
	require.False(t, onPanel(t, ams, 1), "the old account is left behind")

	got := e.subscription(t, sub.ID).Access
	require.Equal(t, "fra", got.Panel, "the period's access is on the new panel")
	require.Equal(t, rec.URL, got.URL)
	require.Equal(t, e.clock.Now(), got.CreatedAt, "a new access, to be delivered")
	account, err := e.shop.UserAccount(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, rec, *account)
	users, err := e.shop.PendingRotations(t.Context(), 10)
	require.NoError(t, err)
	require.Empty(t, users, "the request is done")

	// The moved account is the user's like any other: a renewal extends it.
	e.pay(t, e.order(t, 1, "m1", shop.ProviderCryptoPay))
	renewed := e.activate(t, sub.ID, f)
	require.Equal(t, rec.URL, renewed.URL)
	requireAccount(t, fra, 1, rec.URL, true, e.subscription(t, sub.ID).ExpiresAt)

	// A new link in the location the account is in is made in place.
	_, err = e.shop.RequestNewLink(t.Context(), 1)
	require.NoError(t, err)
	again, err := e.shop.Rotate(t.Context(), 1, f)
	require.NoError(t, err)
	require.Equal(t, "fra", again.Panel)
	require.NotEqual(t, rec.URL, again.URL)
	require.Equal(t, 1, fra.Accounts())
	require.Zero(t, ams.Accounts())
}
