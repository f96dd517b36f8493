package bot_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
)

// client is a Bot API client of the sandbox, to deliver a worker's message
// as the sender does.
func (e *relinkEnv) client() *telegram.Client {
	e.t.Helper()
	c, err := telegram.New(telegram.Config{APIURL: e.sb.URL(), Token: relinkToken})
	require.NoError(e.t, err)
	e.t.Cleanup(c.Close)
	return c
}

// plan is the plan on offer with the id.
func (e *relinkEnv) plan(id string) shop.Plan {
	e.t.Helper()
	p, err := e.shop.Plan(e.ctx, id)
	require.NoError(e.t, err)
	return p
}

// autoRenewal is the user's auto-renewal as the shop has it.
func (e *relinkEnv) autoRenewal(user int64) shop.AutoRenewal {
	e.t.Helper()
	a, err := e.shop.AutoRenewal(e.ctx, user)
	require.NoError(e.t, err)
	return a
}

// requireSubscriptionShown checks that message id shows the user's
// subscription as it is now, auto-renewal included.
func (e *relinkEnv) requireSubscriptionShown(user, id int64, lang string, msgAndArgs ...any) {
	e.t.Helper()
	live, err := e.shop.ActiveSubscription(e.ctx, user)
	require.NoError(e.t, err)
	view := bot.SubscriptionView{Sub: live, Now: time.Now(), AutoRenew: e.autoRenewal(user)}
	e.requireShows(e.message(user, id), bot.SubscriptionScreen(lang, view), msgAndArgs...)
}

// Auto-renewal is turned on and off with two buttons of the subscription
// screen, not one toggle: a press of On twice (a double tap, or a retry)
// leaves it on. Its plan is the default until the user picks one, which
// stays picked when it is turned off.
func TestAutoRenewalIsTurnedOnAndOffFromTheSubscription(t *testing.T) {
	t.Parallel()
	e := newRelinkEnv(t)
	plans, err := e.shop.Plans(e.ctx)
	require.NoError(t, err)
	for i, lang := range []string{botui.English, botui.Russian} {
		user := int64(5001 + i)
		e.trialUser(user, lang)
		m := e.subscriptionScreen(user)
		e.requireSubscriptionShown(user, m.ID, lang, "%s: off", lang)
		require.True(t, m.HasButton(botui.ActionAutoRenewOn), "%s: it can be turned on", lang)
		require.False(t, m.HasButton(botui.ActionAutoRenewOff), lang)

		first := e.sb.PressButton(user, m.ID, botui.ActionAutoRenewOn)
		second := e.sb.PressButton(user, m.ID, botui.ActionAutoRenewOn)
		e.process(first)
		e.process(second)
		a := e.autoRenewal(user)
		require.True(t, a.On, "%s: on after two presses of On", lang)
		require.Equal(t, "m1", a.Plan.ID, "%s: never bought: the cheapest plan", lang)
		e.requireSubscriptionShown(user, m.ID, lang, "%s: on", lang)
		on := e.message(user, m.ID)
		require.Contains(t, on.Text, "<b>"+botui.Pick(lang, "1 month", "1 месяц")+"</b>", lang)
		require.True(t, on.HasButton(botui.ActionAutoRenewOff), lang)
		require.True(t, on.HasButton(botui.ActionAutoRenewPlans), lang)

		e.press(user, m.ID, botui.ActionAutoRenewPlans)
		e.requireShows(e.message(user, m.ID), bot.AutoRenewPlansScreen(lang, plans, a), "%s: the plans, m1 marked", lang)
		e.press(user, m.ID, botui.Callback(botui.ActionAutoRenewPlan, "m3"))
		a = e.autoRenewal(user)
		require.Equal(t, "m3", a.PlanID, lang)
		require.True(t, a.On, lang)
		e.requireSubscriptionShown(user, m.ID, lang, "%s: renews with the plan picked", lang)

		e.press(user, m.ID, botui.ActionAutoRenewOff)
		a = e.autoRenewal(user)
		require.False(t, a.On, "%s: off", lang)
		require.Equal(t, "m3", a.PlanID, "%s: the plan stays picked", lang)
		e.requireSubscriptionShown(user, m.ID, lang, "%s: off again", lang)

		// A plan an old screen offered, no longer on offer: the plans again.
		e.press(user, m.ID, botui.Callback(botui.ActionAutoRenewPlan, "gone"))
		e.requireShows(e.message(user, m.ID), bot.AutoRenewPlansScreen(lang, plans, a), "%s: an unknown plan", lang)
		require.False(t, e.autoRenewal(user).On, "%s: and nothing changed", lang)
	}
}

// The top-up button of the warning that the balance is short of a renewal
// sends a Stars invoice of the stars missing, ordered once however often
// the press is handled; once the balance covers the renewal, it shows the
// subscription.
func TestTheShortBalanceWarningTopsUpWhatTheRenewalLacks(t *testing.T) {
	t.Parallel()
	e := newRelinkEnv(t)
	const user = 6001
	sub := e.trialUser(user, botui.English)
	_, err := e.shop.SetAutoRenew(e.ctx, user, true, "")
	require.NoError(t, err)

	warning := deliver(t, e.sb, e.client(), notify.RenewShort(botui.English, user, sub.ID, e.plan("m1"), sub.ExpiresAt))
	press := e.sb.PressButton(user, warning.ID, botui.NoticeCallback(botui.ActionAutoRenewTopUp, ""))
	u := nextUpdate(t, e.sb, relinkToken, press)
	// The press, and its retry (the update delivered again).
	for range 2 {
		_, err := e.bot.Process(e.ctx, u)
		require.NoError(t, err)
	}
	var ids []int64
	rows, err := e.db.Pool.Query(e.ctx, `SELECT id FROM invoices WHERE user_id = $1`, user)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	require.Len(t, ids, 1, "one order for the press")
	inv, err := e.shop.Invoice(e.ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, shop.PurposeTopUp, inv.Purpose)
	require.EqualValues(t, 250, inv.Price, "the whole plan: the balance is empty")

	msgs := e.sb.Messages(user)
	require.Len(t, msgs, 5, "the warning, then twice the invoice and the screen under it")
	require.Equal(t, warning, msgs[0], "the warning stays")
	invoice := msgs[1].Invoice
	require.NotNil(t, invoice)
	require.Equal(t, shop.StarsPayload(inv.ID), invoice.Payload)
	require.EqualValues(t, 250, invoice.Total)
	require.Equal(t, shop.StarsCurrency, invoice.Currency)
	e.requireShows(msgs[2], bot.AutoRenewTopUpSentScreen(botui.English, 250))

	_, applied, err := e.shop.ApplyStarsPayment(e.ctx, user, invoice.Payload, "charge-1", int(invoice.Total))
	require.NoError(t, err)
	require.True(t, applied)
	again := e.sb.PressButton(user, warning.ID, botui.NoticeCallback(botui.ActionAutoRenewTopUp, ""))
	e.process(again)
	msgs = e.sb.Messages(user)
	require.Len(t, msgs, 6)
	live, err := e.shop.ActiveSubscription(e.ctx, user)
	require.NoError(t, err)
	e.requireShows(msgs[5], bot.SubscriptionScreen(botui.English,
		bot.SubscriptionView{Sub: live, Now: time.Now(), AutoRenew: e.autoRenewal(user),
			Balances: []shop.Balance{{Currency: shop.CurrencyXTR, Amount: 250}}}), "covered: the subscription")
}
