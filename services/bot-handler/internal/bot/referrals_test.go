package bot_test

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
)

// newInviteEnv is a relinkEnv whose shop, and bot, give the rewards r.
func newInviteEnv(t *testing.T, r shop.Referrals) *relinkEnv {
	t.Helper()
	e := newRelinkEnv(t)
	e.shop = shop.New(e.db.Pool, shop.Config{Referrals: r})
	client, err := telegram.New(telegram.Config{APIURL: e.sb.URL(), Token: relinkToken})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	e.bot, err = bot.New(e.ctx, bot.Config{
		Client: client, Users: e.users, Shop: e.shop, Activations: bot.StreamActivations{JS: e.js},
		Log: zerolog.Nop(),
	})
	require.NoError(t, err)
	return e
}

// inviterOf is the user's recorded inviter; 0 for none.
func (e *relinkEnv) inviterOf(user int64) int64 {
	e.t.Helper()
	var inviter int64
	require.NoError(e.t, e.db.Pool.QueryRow(e.ctx,
		`SELECT COALESCE((SELECT inviter FROM referrals WHERE invitee = $1), 0)`, user).Scan(&inviter))
	return inviter
}

// The inviter is recorded from a new user's first /start only, and once:
// a redelivered /start, the link followed by a user who had started the
// bot, by its owner, a link of nobody and a second link record nothing.
// Everyone is greeted all the same.
func TestStartByAnInviteLinkRecordsTheInviterOnce(t *testing.T) {
	t.Parallel()
	e := newInviteEnv(t, shop.Referrals{Inviter: shop.Reward{Days: 7}})
	const inviter, friend, regular, stranger = 5001, 5002, 5003, 5004
	e.menu(inviter)
	link := "/start " + shop.InviteParam(inviter)

	id := e.sb.SendText(friend, link)
	e.process(id)
	_, err := e.bot.Process(e.ctx, nextUpdate(t, e.sb, relinkToken, id))
	require.NoError(t, err, "the same /start delivered again")
	require.EqualValues(t, inviter, e.inviterOf(friend))

	e.menu(regular)
	e.process(e.sb.SendText(regular, link))
	e.process(e.sb.SendText(inviter, link))
	e.process(e.sb.SendText(stranger, "/start "+shop.InviteParam(999_999)))
	e.process(e.sb.SendText(friend, "/start "+shop.InviteParam(regular)))
	for _, user := range []int64{inviter, regular, stranger} {
		require.Zero(t, e.inviterOf(user), "user %d", user)
		msgs := e.sb.Messages(user)
		require.Equal(t, bot.WelcomeScreen(botui.English, "Test", "").Text, msgs[len(msgs)-1].Text, "user %d is greeted", user)
	}
	require.EqualValues(t, inviter, e.inviterOf(friend), "an inviter is never changed")
	var n int
	require.NoError(t, e.db.Pool.QueryRow(e.ctx, `SELECT count(*) FROM referrals`).Scan(&n))
	require.Equal(t, 1, n)
}

// Invite friends, from the menu: the user's link, and what their friends'
// payments earned them, in their language.
func TestInviteScreenShowsTheLinkAndWhatItEarned(t *testing.T) {
	t.Parallel()
	r := shop.Referrals{Inviter: shop.Reward{Days: 7, Percent: 10}}
	e := newInviteEnv(t, r)
	const inviter = 6001
	e.sb.SetUser(sandboxtg.User{ID: inviter, FirstName: "Аня", LanguageCode: botui.Russian})
	link := "https://t.me/vpnbot_test_bot?start=ref_6001"

	menu := e.menu(inviter)
	require.True(t, menu.HasButton(botui.ActionInvite), "the menu: %s", menu.Plain)
	e.press(inviter, menu.ID, botui.ActionInvite)
	e.requireShows(e.message(inviter, menu.ID),
		bot.InviteScreen(botui.Russian, link, r, shop.ReferralStats{Balance: []shop.Balance{}}), "nothing earned yet")

	// Two friends come by the link; one of them pays.
	for _, friend := range []int64{6002, 6003} {
		e.process(e.sb.SendText(friend, "/start "+shop.InviteParam(inviter)))
	}
	inv, err := e.shop.CreateOrder(e.ctx, 6002, "m1", shop.ProviderStars)
	require.NoError(t, err)
	_, applied, err := e.shop.ApplyPayment(e.ctx, inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)

	menu = e.menu(inviter)
	e.press(inviter, menu.ID, botui.ActionInvite)
	e.requireShows(e.message(inviter, menu.ID), bot.InviteScreen(botui.Russian, link, r, shop.ReferralStats{
		Invited: 2, Paid: 1, Days: 7 * 24 * time.Hour, Balance: []shop.Balance{{Currency: shop.CurrencyXTR, Amount: 25}},
	}), "a week and 10%% of 250 stars")
}
