package bot_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop/shoptest"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// fleet records the panels as activation publishes them: each name with its
// location, in order.
func (e *relinkEnv) fleet(panels ...[2]string) {
	e.t.Helper()
	_, err := e.db.Pool.Exec(e.ctx, `DELETE FROM vpn_panels`)
	require.NoError(e.t, err)
	for i, p := range panels {
		_, err := e.db.Pool.Exec(e.ctx, `INSERT INTO vpn_panels (name, kind, location, weight, capacity, position)
			VALUES ($1, 'outline', $2, 1, 0, $3)`, p[0], p[1], i+1)
		require.NoError(e.t, err)
	}
}

// chosen is the user's users.location; nil for no choice.
func (e *relinkEnv) chosen(user int64) *string {
	e.t.Helper()
	var l *string
	require.NoError(e.t, e.db.Pool.QueryRow(e.ctx, `SELECT location FROM users WHERE id = $1`, user).Scan(&l))
	return l
}

// view is the subscription screen's view of the user now.
func (e *relinkEnv) view(user int64, l store.Locations) bot.SubscriptionView {
	e.t.Helper()
	sub, err := e.shop.ActiveSubscription(e.ctx, user)
	require.NoError(e.t, err)
	return bot.SubscriptionView{Sub: sub, Now: time.Now(), Locations: l}
}

// With one location there is nothing to choose: no button, and the
// subscription says nothing of locations.
func TestOneLocationOffersNoChoice(t *testing.T) {
	t.Parallel()
	e := newRelinkEnv(t)
	const user = 5001
	sub := e.trialUser(user, botui.English)
	shoptest.SeedAccess(t, e.db.Pool, sub.ID, "ams-1", "ss://Y2hhY2hhMjA@vpn.example.com:443/?outline=5")
	for _, panels := range [][][2]string{nil, {{"ams-1", "Amsterdam"}, {"ams-2", "Amsterdam"}}, {{"ams-1", ""}}} {
		e.fleet(panels...)
		m := e.subscriptionScreen(user)
		require.False(t, m.HasButton(botui.ActionLocations), "panels %v: no Location button", panels)
		require.NotContains(t, m.Text, "📍", "panels %v", panels)
		e.requireShows(m, bot.SubscriptionScreen(botui.English, e.view(user, store.Locations{})), "panels %v", panels)
	}
}

// With two locations, the subscription screen says where the key is and
// has a Location button; the list marks the choice; choosing records it
// and shows the subscription, which then offers the move by a new link,
// whose question says where the new link will be.
func TestAUserChoosesALocation(t *testing.T) {
	t.Parallel()
	e := newRelinkEnv(t)
	e.fleet([2]string{"ams-1", "Amsterdam"}, [2]string{"fra-1", "Frankfurt"}, [2]string{"ams-2", "Amsterdam"})
	offered := []string{"Amsterdam", "Frankfurt"}
	for i, lang := range []string{botui.English, botui.Russian} {
		user := int64(5101 + i)
		sub := e.trialUser(user, lang)
		shoptest.SeedAccess(t, e.db.Pool, sub.ID, "ams-2", "ss://Y2hhY2hhMjA@vpn.example.com:443/?outline=6")

		m := e.subscriptionScreen(user)
		before := store.Locations{Offered: offered, Key: "Amsterdam"}
		e.requireShows(m, bot.SubscriptionScreen(lang, e.view(user, before)), "%s: the key's location", lang)
		require.Contains(t, m.Text, "📍", lang)
		require.True(t, m.HasButton(botui.ActionLocations), lang)

		e.press(user, m.ID, botui.ActionLocations)
		list := e.message(user, m.ID)
		e.requireShows(list, bot.LocationsScreen(lang, before), "%s: the locations, none chosen", lang)
		require.True(t, list.HasButton(botui.Callback(botui.ActionSetLocation, "Frankfurt")), lang)
		require.Nil(t, e.chosen(user), "%s: looking chooses nothing", lang)

		e.press(user, m.ID, botui.Callback(botui.ActionSetLocation, "Frankfurt"))
		got := e.chosen(user)
		require.NotNil(t, got, lang)
		require.Equal(t, "Frankfurt", *got, lang)
		after := store.Locations{Offered: offered, Chosen: "Frankfurt", Key: "Amsterdam"}
		e.requireShows(e.message(user, m.ID), bot.SubscriptionScreen(lang, e.view(user, after)),
			"%s: the subscription, with the move a new link makes", lang)

		e.press(user, m.ID, botui.ActionLocations)
		e.requireShows(e.message(user, m.ID), bot.LocationsScreen(lang, after), "%s: Frankfurt marked", lang)
		require.Contains(t, e.message(user, m.ID).Buttons[1][0].Text, "Frankfurt", lang)
		require.NotEqual(t, "Frankfurt", e.message(user, m.ID).Buttons[1][0].Text, "%s: the choice is marked", lang)

		e.press(user, m.ID, botui.ActionRelink)
		e.requireShows(e.message(user, m.ID), bot.RelinkConfirmScreen(lang, "Frankfurt"), "%s: the new link's location", lang)

		// A button of a location no longer offered chooses nothing.
		e.press(user, m.ID, botui.Callback(botui.ActionSetLocation, "Paris"))
		e.requireShows(e.message(user, m.ID), bot.LocationsScreen(lang, after), "%s: the locations again", lang)
		require.Equal(t, "Frankfurt", *e.chosen(user), lang)
	}

	// A user with no subscription chooses where their first key will be.
	const newcomer = 5201
	_, err := e.users.UpsertStartingUser(e.ctx, store.StartingUser{ID: newcomer, ChatID: newcomer, Language: botui.English})
	require.NoError(t, err)
	m := e.subscriptionScreen(newcomer)
	e.press(newcomer, m.ID, botui.ActionLocations)
	e.press(newcomer, m.ID, botui.Callback(botui.ActionSetLocation, "Amsterdam"))
	e.requireShows(e.message(newcomer, m.ID), bot.SubscriptionScreen(botui.English,
		e.view(newcomer, store.Locations{Offered: offered, Chosen: "Amsterdam"})), "the newcomer's choice")
	require.Equal(t, "Amsterdam", *e.chosen(newcomer))
}
