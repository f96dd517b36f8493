package shop_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/shop/shoptest"
)

func TestFindUserResolvesEachForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 11, 22, 33, 44)
	_, err := e.pool.Exec(t.Context(), `UPDATE users SET username = 'Alice_B' WHERE id = 11`)
	require.NoError(t, err)
	// A username that moved: the user who holds it now is the one seen last.
	_, err = e.pool.Exec(t.Context(), `UPDATE users SET username = 'moved', updated_at = now() - interval '1 day' WHERE id = 22;
		UPDATE users SET username = 'Moved', updated_at = now() WHERE id = 33`)
	require.NoError(t, err)
	stars := e.order(t, 22, "m1", shop.ProviderStars)
	_, _, err = e.shop.ApplyPayment(t.Context(), stars.ID, "stxCharge-42")
	require.NoError(t, err)
	crypto := e.order(t, 44, "m1", shop.ProviderCryptoPay)
	require.NoError(t, e.shop.AttachExternal(t.Context(), crypto.ID, "987654321", "https://pay/987654321"))
	crypto2 := e.order(t, 44, "m3", shop.ProviderCryptoPay)
	require.NoError(t, e.shop.AttachExternal(t.Context(), crypto2.ID, "IV-abc", "https://pay/IV-abc"))

	for query, want := range map[string]int64{
		"11":                          11,
		" 22 ":                        22,
		"@alice_b":                    11,
		"@ALICE_B":                    11,
		"@moved":                      33,
		"#" + itoa(stars.ID):          22,
		"inv" + itoa(crypto.ID):       44,
		"INV" + itoa(stars.ID):        22,
		"stxCharge-42":                22,
		"987654321":                   44, // no such user: a Crypto Pay invoice
		"IV-abc":                      44,
		"#" + itoa(crypto2.ID) + "  ": 44,
	} {
		got, err := e.shop.FindUser(t.Context(), query)
		require.NoError(t, err, "%q", query)
		require.Equal(t, want, got, "%q", query)
	}
	for _, query := range []string{"", "   ", "12", "@nobody", "@", "#999999", "inv999999", "stxCharge-43", "#x", "alice_b"} {
		_, err := e.shop.FindUser(t.Context(), query)
		require.ErrorIs(t, err, shop.ErrUnknownUser, "%q", query)
	}
}

func TestUserCardShowsBanBalancesAccountAndHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.trial(t, 1)
	shoptest.SeedAccess(t, e.pool, sub.ID, "remnawave", "https://sub/u1")
	e.topUp(t, 1, 300)
	_, err := e.shop.AdminGrantBalance(t.Context(), act("grant-1"), 1, shop.CurrencyUSD, 250)
	require.NoError(t, err)
	_, err = e.shop.SetRole(t.Context(), act("role-1"), 1, shop.RoleSupport)
	require.NoError(t, err)
	bannedAt := e.clock.Now()
	_, err = e.shop.Ban(t.Context(), act("ban-1"), 1)
	require.NoError(t, err)
	_, err = e.pool.Exec(t.Context(), `UPDATE vpn_accounts SET suspended_at = $2 WHERE user_id = $1`, 1, bannedAt.Add(time.Minute))
	require.NoError(t, err)

	c, err := e.shop.UserCard(t.Context(), 1)
	require.NoError(t, err)
	require.EqualValues(t, 1, c.ID)
	require.Equal(t, sub.ID, c.Subscription.ID)
	require.Equal(t, shop.RoleSupport, c.Role)
	require.Equal(t, &bannedAt, c.BannedAt)
	require.Equal(t, []shop.Balance{{Currency: shop.CurrencyUSD, Amount: 250}, {Currency: shop.CurrencyXTR, Amount: 300}}, c.Balances)
	require.Equal(t, &shop.Account{Panel: "remnawave", Name: "vpnbot_u1", ExternalID: "seed-1", URL: "https://sub/u1"}, c.Account)
	require.Equal(t, new(bannedAt.Add(time.Minute)), c.SuspendedAt)
	require.Len(t, c.History, 3)
	require.Equal(t, []string{shop.LedgerGrant, shop.LedgerTopUp, shop.LedgerTrial},
		[]string{c.History[0].Kind, c.History[1].Kind, c.History[2].Kind}, "newest first")

	e.addUser(t, 2)
	c, err = e.shop.UserCard(t.Context(), 2)
	require.NoError(t, err)
	require.Nil(t, c.BannedAt)
	require.Nil(t, c.Account)
	require.Empty(t, c.Role)
	require.Empty(t, c.Balances)
	require.Empty(t, c.History)
	_, err = e.shop.UserCard(t.Context(), 99)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
