package notify

import (
	"fmt"
	"strconv"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// renewalTexts is what the auto-renewal's messages say in one language,
// HTML.
type renewalTexts struct {
	renewed  string // takes the length, the price, the new expiry and the balance left
	short    string // takes the plan's title, its two prices and the expiry
	btnTopUp string
}

// starsFormat writes a number of stars, in either language, as the bot
// writes prices.
const starsFormat = "⭐%d"

var renewalEN = renewalTexts{
	renewed: "🔄 Your subscription was renewed for %s from your balance: %s.\n" +
		"It now runs until %s. Left on your balance: %s.",
	short: "⚠️ Your balance is short of auto-renewal: %s costs %s or %s, and your subscription ends on %s.\n\n" +
		"Top up your balance before then, and your subscription renews by itself.",
	btnTopUp: "⭐ Top up the balance",
}

var renewalRU = renewalTexts{
	renewed: "🔄 Подписка продлена на %s за счёт баланса: %s.\n" +
		"Теперь она действует до %s. Осталось на балансе: %s.",
	short: "⚠️ На балансе не хватает для автопродления: %s стоит %s или %s, а подписка заканчивается %s.\n\n" +
		"Пополните баланс до этого времени, и подписка продлится сама.",
	btnTopUp: "⭐ Пополнить баланс",
}

// RenewalReceipt tells a user that auto-renewal renewed their period from
// their balance (r, the renewal of the cycle that ended at cycle): for how
// long, what it took, until when the period runs now and what is left on
// the balance, with the "My subscription" button and the menu. Its dedup id
// is the renewal's op key, shop.RenewalKey(subscriptionID, cycle): one
// receipt per renewal, however often it is published. Its priority is
// transactional, as a payment's receipt.
func RenewalReceipt(lang string, chatID, subscriptionID int64, cycle time.Time, r shop.Renewal) *vpnbotv1.SendMessage {
	rt, ui := botui.Pick(lang, &renewalEN, &renewalRU), botui.TextsIn(lang)
	counts := botui.Pick(lang, &reminderEN, &reminderRU)
	e := r.Entry
	return &vpnbotv1.SendMessage{
		DedupId: shop.RenewalKey(subscriptionID, cycle),
		ChatId:  chatID,
		Text: fmt.Sprintf(rt.renewed, counts.length(e.Duration), money(e.Currency, -e.Amount), ui.Date(r.ExpiresAt),
			money(e.Currency, r.Balance)),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		Rows:      subscriptionKeyboard(ui),
	}
}

// RenewShort warns a user that their balance is short of the renewal of
// their period, which ends at expires: plan p costs more than it holds in
// either currency. Its buttons top the balance up by what is missing, open
// "My subscription" (where auto-renewal is turned off) and the menu. Its
// dedup id is "renew_short:<subscriptionID>:<expires, unix seconds>": once
// per cycle. Its priority is reminder, as the reminders of the expiry.
func RenewShort(lang string, chatID, subscriptionID int64, p shop.Plan, expires time.Time) *vpnbotv1.SendMessage {
	rt, ui := botui.Pick(lang, &renewalEN, &renewalRU), botui.TextsIn(lang)
	title := botui.Pick(lang, p.TitleEN, p.TitleRU)
	return &vpnbotv1.SendMessage{
		DedupId: shop.NoticeRenewShort + ":" + strconv.FormatInt(subscriptionID, 10) + ":" +
			strconv.FormatInt(expires.Unix(), 10),
		ChatId: chatID,
		Text: fmt.Sprintf(rt.short, "<b>"+botui.Escape(title)+"</b>", "$"+botui.Escape(p.PriceUSD),
			fmt.Sprintf(starsFormat, p.PriceStars), ui.Date(expires)),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_REMINDER,
		Rows: append([]*vpnbotv1.ButtonRow{{Buttons: []*vpnbotv1.Button{
			{Text: rt.btnTopUp, CallbackData: botui.NoticeCallback(botui.ActionAutoRenewTopUp, "")},
		}}}, subscriptionKeyboard(ui)...),
	}
}

// money writes an amount in minor units of currency: "$4.99", "⭐250".
func money(currency string, amount int64) string {
	if currency == shop.CurrencyXTR {
		return fmt.Sprintf(starsFormat, amount)
	}
	return "$" + shop.FormatCents(amount)
}

// length writes how long a renewal added: in days when it is whole days,
// as plans sold are; else in hours, or minutes (make run's demo plan).
func (rt *reminderTexts) length(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return rt.days(int(d / (24 * time.Hour)))
	case d%time.Hour == 0:
		return rt.hours(int(d / time.Hour))
	}
	return rt.minutes(max(int(d.Round(time.Minute)/time.Minute), 1))
}
