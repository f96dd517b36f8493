package bot

import (
	"context"
	"errors"
	"fmt"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// autoRenewTexts is what the bot says of auto-renewal from the balance, in
// one language, HTML.
type autoRenewTexts struct {
	on         string // the subscription's line while it is on: plan title, USD price, Stars price
	btnOn      string
	btnOff     string
	btnPlan    string // takes the plan's title
	choosePlan string
	planButton string // mark, title, USD price, Stars price
	chosenMark string
	topUpTitle string // the Stars invoice's title
	topUpDesc  string // takes the stars
	topUpSent  string // takes the stars
}

var autoRenewEN = autoRenewTexts{
	on:      "🔄 Auto-renewal is on: <b>%s</b> for $%s or ⭐%d from your balance, before your subscription ends.",
	btnOn:   "🔄 Turn on auto-renewal",
	btnOff:  "⏸ Turn off auto-renewal",
	btnPlan: "📋 Plan: %s",
	choosePlan: "<b>Auto-renewal</b>\nChoose the plan renewed from your balance before your subscription ends " +
		"(paid in dollars, else in stars):",
	planButton: "%s%s — $%s / ⭐%d",
	chosenMark: "✅ ",
	topUpTitle: "Balance top-up",
	topUpDesc:  "⭐%d to your balance, for the auto-renewal of your subscription.",
	topUpSent:  "Here is your invoice for ⭐%d: once it is paid, auto-renewal renews your subscription from your balance.",
}

var autoRenewRU = autoRenewTexts{
	on:      "🔄 Автопродление включено: <b>%s</b> за $%s или ⭐%d с баланса, до окончания подписки.",
	btnOn:   "🔄 Включить автопродление",
	btnOff:  "⏸ Выключить автопродление",
	btnPlan: "📋 Тариф: %s",
	choosePlan: "<b>Автопродление</b>\nВыберите тариф, который будет продлеваться с баланса до окончания подписки " +
		"(оплата в долларах, иначе в звёздах):",
	planButton: "%s%s — $%s / ⭐%d",
	chosenMark: "✅ ",
	topUpTitle: "Пополнение баланса",
	topUpDesc:  "⭐%d на баланс для автопродления подписки.",
	topUpSent:  "Вот счёт на ⭐%d: после оплаты автопродление продлит подписку с баланса.",
}

func autoRenewTextsIn(lang string) *autoRenewTexts {
	return botui.Pick(lang, &autoRenewEN, &autoRenewRU)
}

// autoRenewLine is the subscription screen's word on auto-renewal: the plan
// it renews with, while it is on. Off, the button says it all.
func (v SubscriptionView) autoRenewLine(t *texts) string {
	if v.Sub == nil || !v.AutoRenew.On {
		return ""
	}
	p := v.AutoRenew.Plan
	return "\n" + fmt.Sprintf(autoRenewTextsIn(t.Lang).on, botui.Escape(t.planTitle(p)), p.PriceUSD, p.PriceStars)
}

// autoRenewRow is the subscription screen's auto-renewal buttons, for a
// user with a period: turn it on; or, on, turn it off and change its plan.
func (v SubscriptionView) autoRenewRow(t *texts) [][]Button {
	if v.Sub == nil {
		return nil
	}
	at := autoRenewTextsIn(t.Lang)
	if !v.AutoRenew.On {
		return [][]Button{{data(at.btnOn, botui.ActionAutoRenewOn)}}
	}
	return [][]Button{{
		data(at.btnOff, botui.ActionAutoRenewOff),
		data(fmt.Sprintf(at.btnPlan, t.planTitle(v.AutoRenew.Plan)), botui.ActionAutoRenewPlans),
	}}
}

// AutoRenewPlansScreen offers the plans auto-renewal can renew with, the
// one it renews with (a) marked; a press picks one and turns it on. Back
// goes to the subscription.
func AutoRenewPlansScreen(lang string, plans []shop.Plan, a shop.AutoRenewal) Screen {
	t, at := textsIn(lang), autoRenewTextsIn(lang)
	var rows [][]Button
	for _, p := range plans {
		mark := ""
		if p.ID == a.Plan.ID {
			mark = at.chosenMark
		}
		rows = append(rows, []Button{data(fmt.Sprintf(at.planButton, mark, t.planTitle(p), p.PriceUSD, p.PriceStars),
			botui.Callback(botui.ActionAutoRenewPlan, p.ID))})
	}
	return Screen{Text: at.choosePlan, Buttons: append(rows, []Button{data(t.btnBack, botui.ActionSubscription)})}
}

// AutoRenewTopUpSentScreen says that the Stars invoice of a top-up for the
// renewal, of stars, is below.
func AutoRenewTopUpSentScreen(lang string, stars int64) Screen {
	t := textsIn(lang)
	return Screen{
		Text:    fmt.Sprintf(autoRenewTextsIn(lang).topUpSent, stars),
		Buttons: [][]Button{{data(t.BtnSubscription, botui.ActionSubscription)}, menuButton(t)},
	}
}

// autoRenewOf is what the subscription screen shows of the user's
// auto-renewal: nothing without a period to renew.
func (b *Bot) autoRenewOf(ctx context.Context, userID int64, sub *shop.Subscription) (shop.AutoRenewal, error) {
	if sub == nil {
		return shop.AutoRenewal{}, nil
	}
	return b.shop.AutoRenewal(ctx, userID)
}

// onAutoRenew answers the auto-renewal's buttons.
func (b *Bot) onAutoRenew(ctx context.Context, c tele.Context, lang, action, arg string) error {
	switch action {
	case botui.ActionAutoRenewOn:
		return b.setAutoRenew(ctx, c, lang, true, "")
	case botui.ActionAutoRenewOff:
		return b.setAutoRenew(ctx, c, lang, false, "")
	case botui.ActionAutoRenewPlan:
		return b.setAutoRenew(ctx, c, lang, true, arg)
	case botui.ActionAutoRenewPlans:
		return b.autoRenewPlans(ctx, c, lang)
	default:
		return b.autoRenewTopUp(ctx, c, lang)
	}
}

// setAutoRenew turns auto-renewal on or off, with planID picking its plan
// ("" keeps it), and shows the subscription as it now is. On and off are
// two buttons rather than one toggle, so that a press retried, or pressed
// twice, has the effect it showed. A plan no longer offered (an old
// screen's button) shows the plans again.
func (b *Bot) setAutoRenew(ctx context.Context, c tele.Context, lang string, on bool, planID string) error {
	userID := c.Sender().ID
	_, err := b.shop.SetAutoRenew(ctx, userID, on, planID)
	switch {
	case errors.Is(err, shop.ErrUnknownUser):
		return b.show(ctx, c, NeedStartScreen(lang))
	case errors.Is(err, shop.ErrUnknownPlan):
		return b.autoRenewPlans(ctx, c, lang)
	case err != nil:
		return err
	}
	return b.showSubscription(ctx, c, lang)
}

// showSubscription puts the subscription screen in place of the pressed
// one, without the QR code a press of My subscription sends below it.
func (b *Bot) showSubscription(ctx context.Context, c tele.Context, lang string) error {
	v, err := b.subscriptionView(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	return b.show(ctx, c, SubscriptionScreen(lang, v))
}

func (b *Bot) autoRenewPlans(ctx context.Context, c tele.Context, lang string) error {
	a, err := b.shop.AutoRenewal(ctx, c.Sender().ID)
	if errors.Is(err, shop.ErrUnknownUser) {
		return b.show(ctx, c, NeedStartScreen(lang))
	}
	if err != nil {
		return err
	}
	plans, err := b.shop.Plans(ctx)
	if err != nil {
		return err
	}
	return b.show(ctx, c, AutoRenewPlansScreen(lang, plans, a))
}

// autoRenewTopUp answers the top-up button of the warning that the balance
// is short of a renewal: it makes the press's order of the stars missing
// (shop.CreateRenewalTopUpOnce: a retried press orders once) and sends its
// Stars invoice. A balance that covers the renewal by now, or a renewal
// with no plan to buy, shows the subscription instead.
func (b *Bot) autoRenewTopUp(ctx context.Context, c tele.Context, lang string) error {
	inv, err := b.shop.CreateRenewalTopUpOnce(ctx, pressRequest(c), c.Sender().ID)
	switch {
	case errors.Is(err, shop.ErrUnknownUser):
		return b.show(ctx, c, NeedStartScreen(lang))
	case errors.Is(err, shop.ErrBalanceCovers), errors.Is(err, shop.ErrUnknownPlan):
		return b.showSubscription(ctx, c, lang)
	case err != nil:
		return err
	}
	at := autoRenewTextsIn(lang)
	if err := b.sendStarsInvoice(ctx, c, inv, at.topUpTitle, fmt.Sprintf(at.topUpDesc, inv.Price)); err != nil {
		return err
	}
	return b.show(ctx, c, AutoRenewTopUpSentScreen(lang, inv.Price))
}
