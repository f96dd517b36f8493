package notify

import (
	"fmt"
	"strconv"
	"time"

	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// KindSubscriptionEnded is the notifications_sent kind of SubscriptionEnded,
// and the first part of its dedup id.
const KindSubscriptionEnded = "expired"

// expiryCbPlans is the bot-handler's callback data of the plans list.
const expiryCbPlans = "plans"

// expiryTexts is what the expiry-cleanup worker says, HTML. The button
// labels are the bot-handler's, word for word.
type expiryTexts struct {
	ended    string // takes the expiry
	btnPlans string
}

var (
	expiryEN = expiryTexts{
		ended: "⛔ Your subscription ended on %s, and your VPN key no longer works.\n\n" +
			"Choose a plan to get a new key.",
		btnPlans: "💳 Plans",
	}
	expiryRU = expiryTexts{
		ended: "⛔ Ваша подписка закончилась %s, и ваш ключ VPN больше не работает.\n\n" +
			"Выберите тариф, чтобы получить новый ключ.",
		btnPlans: "💳 Тарифы",
	}
)

// SubscriptionEnded tells a user that their period ended and its VPN key was
// revoked, with the plans list and the menu as buttons. Its dedup id is
// "expired:<subscriptionID>:<expiry, Unix seconds>": one notice per period
// and expiry, however often a worker publishes it. Its priority is
// transactional: it explains why the VPN just stopped working. A trial
// period whose end TrialEnded told of (it says when the key stops) does not
// get it: the trial-notifier claims this notice with its own.
func SubscriptionEnded(lang string, chatID, subscriptionID int64, expires time.Time) *vpnbotv1.SendMessage {
	t, x := textsIn(lang), &expiryEN
	if Language(lang) == Russian {
		x = &expiryRU
	}
	return &vpnbotv1.SendMessage{
		DedupId:   KindSubscriptionEnded + ":" + strconv.FormatInt(subscriptionID, 10) + ":" + strconv.FormatInt(expires.Unix(), 10),
		ChatId:    chatID,
		Text:      fmt.Sprintf(x.ended, t.date(expires)),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		Rows: []*vpnbotv1.ButtonRow{
			{Buttons: []*vpnbotv1.Button{{Text: x.btnPlans, CallbackData: expiryCbPlans}}},
			{Buttons: []*vpnbotv1.Button{{Text: t.btnMenu, CallbackData: cbMenu}}},
		},
	}
}
