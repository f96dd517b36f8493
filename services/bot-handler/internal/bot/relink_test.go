package bot_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/shop/shoptest"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// relinkEnv is a bot on a fresh schema, the EVENTS stream and the Telegram
// sandbox, with the users it talks to.
type relinkEnv struct {
	t     *testing.T
	ctx   context.Context
	db    *pgdbtest.DB
	js    jetstream.JetStream
	sb    *sandboxtg.Server
	users *store.Store
	shop  *shop.Shop
	bot   *bot.Bot
}

const relinkToken = "123456:TEST-relink"

func newRelinkEnv(t *testing.T) *relinkEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	e := &relinkEnv{t: t, ctx: ctx, db: pgdbtest.New(t)}
	_, e.js = bustest.Connect(t, bustest.NewServer(t).URL())
	require.NoError(t, bus.DeclareStreams(ctx, e.js, events.StreamConfig()))
	e.sb = sandboxtg.New(sandboxtg.Config{Token: relinkToken, GlobalRate: -1, ChatRate: -1})
	require.NoError(t, e.sb.Start("127.0.0.1:0"))
	t.Cleanup(e.sb.Close)
	e.users, e.shop = store.New(e.db.Pool), shop.New(e.db.Pool, shop.Config{})
	client, err := telegram.New(telegram.Config{APIURL: e.sb.URL(), Token: relinkToken})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	e.bot, err = bot.New(ctx, bot.Config{
		Client: client, Users: e.users, Shop: e.shop, Activations: bot.StreamActivations{JS: e.js},
		Log: zerolog.Nop(),
	})
	require.NoError(t, err)
	return e
}

// trialUser is a user who started the bot in lang and took the trial; it
// returns their period.
func (e *relinkEnv) trialUser(user int64, lang string) shop.Subscription {
	e.t.Helper()
	_, err := e.users.UpsertStartingUser(e.ctx, store.StartingUser{ID: user, ChatID: user, FirstName: "Alice", LanguageCode: lang, Language: lang})
	require.NoError(e.t, err)
	e.sb.SetUser(sandboxtg.User{ID: user, FirstName: "Alice", LanguageCode: lang})
	sub, err := e.shop.StartTrial(e.ctx, user)
	require.NoError(e.t, err)
	return sub
}

// process hands the bot the update updateID and checks it was handled.
func (e *relinkEnv) process(updateID int64) {
	e.t.Helper()
	_, err := e.bot.Process(e.ctx, nextUpdate(e.t, e.sb, relinkToken, updateID))
	require.NoError(e.t, err, "update %d", updateID)
}

// press makes user press the button with data under message msg, and has
// the bot handle it.
func (e *relinkEnv) press(user, msg int64, data string) {
	e.t.Helper()
	id := e.sb.PressButton(user, msg, data)
	e.process(id)
	_, answered := e.sb.CallbackAnswer(id)
	require.True(e.t, answered, "the press of %q was answered", data)
}

// menu sends /start and returns the bot's answer, the main menu.
func (e *relinkEnv) menu(user int64) sandboxtg.Message {
	e.t.Helper()
	e.process(e.sb.SendText(user, "/start"))
	msgs := e.sb.Messages(user)
	require.NotEmpty(e.t, msgs)
	menu := msgs[len(msgs)-1]
	require.True(e.t, menu.HasButton(botui.ActionSubscription), "the menu: %s", menu.Plain)
	return menu
}

// subscriptionScreen opens My subscription from a new main menu; it returns
// the message that shows the subscription.
func (e *relinkEnv) subscriptionScreen(user int64) sandboxtg.Message {
	e.t.Helper()
	menu := e.menu(user)
	e.press(user, menu.ID, botui.ActionSubscription)
	return e.message(user, menu.ID)
}

// message is the chat's message id as the user sees it now.
func (e *relinkEnv) message(user, id int64) sandboxtg.Message {
	e.t.Helper()
	for _, m := range e.sb.Messages(user) {
		if m.ID == id {
			return m
		}
	}
	e.t.Fatalf("no message %d in chat %d", id, user)
	return sandboxtg.Message{}
}

// requireShows checks that a message shows the screen.
func (e *relinkEnv) requireShows(m sandboxtg.Message, want bot.Screen, msgAndArgs ...any) {
	e.t.Helper()
	require.Equal(e.t, want.Text, m.Text, msgAndArgs...)
	require.Equal(e.t, sandboxButtons(want), m.Buttons, msgAndArgs...)
}

// rotateRequested is the user's vpn_accounts.rotate_requested_at; found is
// false when they have no account.
func (e *relinkEnv) rotateRequested(user int64) (at *time.Time, found bool) {
	e.t.Helper()
	rows, err := e.db.Pool.Query(e.ctx, `SELECT rotate_requested_at FROM vpn_accounts WHERE user_id = $1`, user)
	require.NoError(e.t, err)
	defer rows.Close()
	for rows.Next() {
		require.NoError(e.t, rows.Scan(&at))
		found = true
	}
	require.NoError(e.t, rows.Err())
	return at, found
}

// wakeUps are the activation requests stored on EVENTS, oldest first.
func (e *relinkEnv) wakeUps() []*vpnbotv1.ActivationRequested {
	e.t.Helper()
	stream, err := e.js.Stream(e.ctx, events.Stream)
	require.NoError(e.t, err)
	info, err := stream.Info(e.ctx)
	require.NoError(e.t, err)
	var out []*vpnbotv1.ActivationRequested
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		raw, err := stream.GetMsg(e.ctx, seq)
		require.NoError(e.t, err)
		require.Equal(e.t, events.SubjectActivationRequested, raw.Subject)
		var m vpnbotv1.ActivationRequested
		require.NoError(e.t, proto.Unmarshal(raw.Data, &m))
		out = append(out, &m)
	}
	return out
}

// New link, pressed under a key: a question first, as the link the user has
// dies at once; yes records the request on the user's account and wakes the
// activation worker; a second yes (a double tap) asks for nothing more.
func TestNewLinkIsAskedForOnceAfterAConfirmation(t *testing.T) {
	t.Parallel()
	e := newRelinkEnv(t)
	for i, lang := range []string{botui.English, botui.Russian} {
		user := int64(3001 + i)
		sub := e.trialUser(user, lang)
		shoptest.SeedAccess(t, e.db.Pool, sub.ID, "outline", "ss://Y2hhY2hhMjA@vpn.example.com:443/?outline=1")
		live, err := e.shop.ActiveSubscription(e.ctx, user)
		require.NoError(t, err)
		require.NotNil(t, live.Access, "the seeded key is the user's")

		m := e.subscriptionScreen(user)
		e.requireShows(m, bot.SubscriptionScreen(lang, bot.SubscriptionView{Sub: live, Now: time.Now()}), "%s: the key", lang)
		require.True(t, m.HasButton(botui.ActionRelink), "%s: a key can be replaced", lang)

		e.press(user, m.ID, botui.ActionRelink)
		e.requireShows(e.message(user, m.ID), bot.RelinkConfirmScreen(lang, ""), "%s: New link asks first", lang)
		requested, found := e.rotateRequested(user)
		require.True(t, found)
		require.Nil(t, requested, "%s: the question asks for nothing", lang)
		require.Len(t, e.wakeUps(), i, "%s: the question wakes nobody", lang)

		// A double tap of yes: two presses of the question's button, both
		// queued before the bot handles the first.
		first := e.sb.PressButton(user, m.ID, botui.ActionRelinkConfirm)
		second := e.sb.PressButton(user, m.ID, botui.ActionRelinkConfirm)
		e.process(first)
		e.requireShows(e.message(user, m.ID), bot.RelinkRequestedScreen(lang), "%s: yes says the link is coming", lang)
		requested, _ = e.rotateRequested(user)
		require.NotNil(t, requested, "%s: yes records the request on the account", lang)
		e.process(second)
		for _, id := range []int64{first, second} {
			_, answered := e.sb.CallbackAnswer(id)
			require.True(t, answered, "%s: press %d was handled", lang, id)
		}
		again, _ := e.rotateRequested(user)
		require.Equal(t, *requested, *again, "%s: the second yes keeps the first request", lang)
		e.requireShows(e.message(user, m.ID), bot.RelinkRequestedScreen(lang), "%s: the second yes shows the same", lang)

		wakes := e.wakeUps()
		require.Len(t, wakes, i+1, "%s: one wake-up for both presses", lang)
		got := wakes[i]
		require.Equal(t, sub.ID, got.GetSubscriptionId(), lang)
		require.Equal(t, user, got.GetUserId(), lang)
		require.Equal(t, bot.ReasonRelink, got.GetReason(), lang)
		require.True(t, live.Access.CreatedAt.Equal(got.GetRequestedAt().AsTime()),
			"%s: the wake-up is named after the access whose link is replaced", lang)
	}
}

// Without a key there is nothing to replace: the subscription screen offers
// no New link, and a press of an old screen's button (the key revoked since,
// or an account missing) shows the subscription instead and asks for
// nothing.
func TestNewLinkNeedsAKeyToReplace(t *testing.T) {
	t.Parallel()
	e := newRelinkEnv(t)
	const pending, noAccount = 4001, 4002

	sub := e.trialUser(pending, botui.English)
	view := bot.SubscriptionView{Sub: &sub, Now: time.Now()}
	m := e.subscriptionScreen(pending)
	e.requireShows(m, bot.SubscriptionScreen(botui.English, view), "a key on its way")
	require.False(t, m.HasButton(botui.ActionRelink), "no key, no New link")
	for _, data := range []string{botui.ActionRelink, botui.ActionRelinkConfirm} {
		menu := e.menu(pending)
		e.press(pending, menu.ID, data)
		e.requireShows(e.message(pending, menu.ID), bot.SubscriptionScreen(botui.English, view), "%q without a key", data)
	}
	_, found := e.rotateRequested(pending)
	require.False(t, found, "no account was made up")

	// A key whose account is not recorded: no account to rotate.
	sub = e.trialUser(noAccount, botui.Russian)
	shoptest.SeedAccess(t, e.db.Pool, sub.ID, "outline", "ss://Y2hhY2hhMjA@vpn.example.com:443/?outline=2")
	m = e.subscriptionScreen(noAccount)
	e.press(noAccount, m.ID, botui.ActionRelink)
	e.requireShows(e.message(noAccount, m.ID), bot.RelinkConfirmScreen(botui.Russian, ""), "the question, while the account was there")
	_, err := e.db.Pool.Exec(e.ctx, `DELETE FROM vpn_accounts WHERE user_id = $1`, noAccount)
	require.NoError(t, err)
	e.press(noAccount, m.ID, botui.ActionRelinkConfirm)
	live, err := e.shop.ActiveSubscription(e.ctx, noAccount)
	require.NoError(t, err)
	require.NotNil(t, live.Access)
	e.requireShows(e.message(noAccount, m.ID), bot.SubscriptionScreen(botui.Russian, bot.SubscriptionView{Sub: live, Now: time.Now()}),
		"yes without an account shows the key")

	require.Empty(t, e.wakeUps(), "nobody was woken")
}
