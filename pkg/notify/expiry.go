package notify

import (
	"fmt"
	"strconv"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// KindSubscriptionEnded is the notifications_sent kind of SubscriptionEnded,
// and the first part of its dedup id.
const KindSubscriptionEnded = "expired"

// expiryEndedEN and expiryEndedRU are what the expiry-cleanup worker says,
// HTML; they take the expiry.
const (
	expiryEndedEN = "⛔ Your subscription ended on %s, and your VPN key no longer works.\n\n" +
		"Choose a plan to get a new key."
	expiryEndedRU = "⛔ Ваша подписка закончилась %s, и ваш ключ VPN больше не работает.\n\n" +
		"Выберите тариф, чтобы получить новый ключ."
)

// SubscriptionEnded tells a user that their period ended and its VPN key was
// revoked, with the plans list and the menu as buttons. Its dedup id is
// "expired:<subscriptionID>:<expiry, Unix seconds>": one notice per period
// and expiry, however often a worker publishes it. Its priority is
// transactional: it explains why the VPN just stopped working. A trial
// period whose end TrialEnded told of (it says when the key stops) does not
// get it: the trial-notifier claims this notice with its own.
func SubscriptionEnded(lang string, chatID, subscriptionID int64, expires time.Time) *vpnbotv1.SendMessage {
	ui := botui.TextsIn(lang)
	return &vpnbotv1.SendMessage{
		DedupId:   KindSubscriptionEnded + ":" + strconv.FormatInt(subscriptionID, 10) + ":" + strconv.FormatInt(expires.Unix(), 10),
		ChatId:    chatID,
		Text:      fmt.Sprintf(botui.Pick(lang, expiryEndedEN, expiryEndedRU), ui.Date(expires)),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		Rows:      plansKeyboard(ui),
	}
}
