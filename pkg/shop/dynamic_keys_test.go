package shop_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/ssconf"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// keyServer is the key server of the dynamic-key tests.
var keyServer = ssconf.Settings{URL: "https://keys.example.com", Label: "vpnbot"}

var dynamicKey = regexp.MustCompile(`^ssconf://keys\.example\.com/k/[0-9a-f]{32}#vpnbot$`)

// dynamicEnv is a shop with dynamic keys on, in which user 1 has just
// started their trial, and a sandbox panel of kind.
func dynamicEnv(t *testing.T, kind string) (*env, *vpntest.Sandbox, *vpn.Fleet, shop.Subscription) {
	t.Helper()
	e := newEnv(t)
	e.shop = shop.New(e.pool, shop.Config{NowFunc: e.clock.Now, DynamicKeys: keyServer})
	sb := vpntest.StartSandbox(t, kind)
	return e, sb, sb.Fleet(t), e.trial(t, 1)
}

// account is user's recorded panel account, which must exist.
func (e *env) account(t *testing.T, user int64) shop.Account {
	t.Helper()
	rec, err := e.shop.UserAccount(t.Context(), user)
	require.NoError(t, err)
	require.NotNil(t, rec, "user %d has no account", user)
	return *rec
}

// An Outline user is given one dynamic key, which stays theirs across a
// lapse and a re-purchase and across a key the panel lost, while the
// account keeps the panel's working ss:// key for the key server.
func TestOutlineUsersGetADynamicKeyThatOutlivesTheirPeriods(t *testing.T) {
	t.Parallel()
	e, sb, f, sub := dynamicEnv(t, vpn.KindOutline)
	acc := e.activate(t, sub.ID, f)
	require.Regexp(t, dynamicKey, acc.URL, "the link delivered")
	require.Equal(t, acc.URL, e.subscription(t, sub.ID).Access.URL, "the link recorded, as the user sees it")
	key := e.account(t, 1).URL
	requireAccount(t, sb, 1, key, true, time.Time{})

	e.endPeriod(t, sub)
	require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, f))
	require.False(t, sb.LinkWorks(key), "the lapsed account's key")
	next := e.pay(t, e.order(t, 1, "m1", shop.ProviderStars))
	again := e.activate(t, next.ID, f)
	require.Equal(t, acc.URL, again.URL, "the re-purchase's link is the one the user has")
	require.Equal(t, key, e.account(t, 1).URL)
	requireAccount(t, sb, 1, key, true, time.Time{})

	// The panel lost the key: the bot makes a new one, the link stays.
	require.True(t, sb.DriftDelete(acc.Name))
	restored, err := e.shop.Reactivate(t.Context(), next.ID, f)
	require.NoError(t, err)
	require.Equal(t, acc.URL, restored.URL)
	newKey := e.account(t, 1).URL
	require.NotEqual(t, key, newKey, "the panel made a new key")
	requireAccount(t, sb, 1, newKey, true, time.Time{})
}

// A new link is a new dynamic key: the old one is no longer the user's.
func TestANewLinkIsANewDynamicKey(t *testing.T) {
	t.Parallel()
	e, sb, f, sub := dynamicEnv(t, vpn.KindOutline)
	old := e.activate(t, sub.ID, f)
	oldKey := e.account(t, 1).URL
	found, err := e.shop.RequestNewLink(t.Context(), 1)
	require.NoError(t, err)
	require.True(t, found)
	e.clock.Advance(time.Minute)
	rec, err := e.shop.Rotate(t.Context(), 1, f)
	require.NoError(t, err)
	require.NotEqual(t, oldKey, rec.URL, "the panel's key is new")
	requireAccount(t, sb, 1, rec.URL, true, time.Time{})
	require.False(t, sb.LinkWorks(oldKey))
	got := e.subscription(t, sub.ID).Access
	require.Regexp(t, dynamicKey, got.URL)
	require.NotEqual(t, old.URL, got.URL, "the link delivered is new")
	require.Equal(t, e.clock.Now(), got.CreatedAt, "a new access, to be delivered")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM vpn_accounts WHERE $1 LIKE '%/k/' || link_token || '#%'`, got.URL),
		"the account carries the new link's token")
}

// Panels other than Outline give stable subscription URLs already: their
// users get them as before.
func TestOtherPanelsKeepTheirLinks(t *testing.T) {
	t.Parallel()
	e, _, f, sub := dynamicEnv(t, vpn.KindRemnawave)
	acc := e.activate(t, sub.ID, f)
	require.Equal(t, e.account(t, 1).URL, acc.URL)
	require.NotContains(t, acc.URL, "ssconf://")
}
