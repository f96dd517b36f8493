package notify

import (
	"fmt"
	"strconv"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// KindKeyRevoked is the notifications_sent kind of KeyRevoked, and the first
// part of its dedup id. Its value is historical: the notice was once the
// only word of a period's end, and is recorded and deduplicated under it.
const KindKeyRevoked = "expired"

// keyRevokedTexts are what the expiry-cleanup worker says when it revokes a
// key, HTML; they take the expiry.
type keyRevokedTexts struct {
	trial, paid string
}

var (
	keyRevokedEN = keyRevokedTexts{
		trial: "🔒 Your VPN key no longer works: your free trial ended on %s.\n\n" +
			"Choose a plan to get a new key.",
		paid: "🔒 Your VPN key no longer works: your subscription ended on %s.\n\n" +
			"Choose a plan to get a new key.",
	}
	keyRevokedRU = keyRevokedTexts{
		trial: "🔒 Ваш ключ VPN больше не работает: пробный период закончился %s.\n\n" +
			"Выберите тариф, чтобы получить новый ключ.",
		paid: "🔒 Ваш ключ VPN больше не работает: подписка закончилась %s.\n\n" +
			"Выберите тариф, чтобы получить новый ключ.",
	}
)

// KeyRevoked tells a user that the key of their period, a trial (trial true)
// or a paid one that ended at expires, was revoked and no longer works, with
// the plans list and the menu as buttons. It is the last of a period's two
// messages about its end: TrialEnded or PaidEnded said at the expiry when
// the key would stop. Its dedup id is "expired:<subscriptionID>:<expiry,
// Unix seconds>": one notice per period and expiry, however often a worker
// publishes it. Its priority is transactional: it explains why the VPN just
// stopped working.
func KeyRevoked(lang string, chatID, subscriptionID int64, trial bool, expires time.Time) *vpnbotv1.SendMessage {
	ui, t := botui.TextsIn(lang), botui.Pick(lang, &keyRevokedEN, &keyRevokedRU)
	text := t.paid
	if trial {
		text = t.trial
	}
	return &vpnbotv1.SendMessage{
		DedupId:   KindKeyRevoked + ":" + strconv.FormatInt(subscriptionID, 10) + ":" + strconv.FormatInt(expires.Unix(), 10),
		ChatId:    chatID,
		Text:      fmt.Sprintf(text, ui.Date(expires)),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		Rows:      plansKeyboard(ui),
	}
}
