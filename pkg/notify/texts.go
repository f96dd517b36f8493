package notify

import (
	"fmt"
	"time"
)

// texts is what the notifications say in one language, HTML. Strings shared
// with the bot-handler's screens (buttons, the receipt, month names) are
// copied word for word, so both read as one bot.
type texts struct {
	keyReady        string // expiry, the key (escaped)
	hintOutline     string
	hintV2Ray       string
	paymentReceived string // takes the new expiry
	btnSubscription string
	btnMenu         string
	months          [12]string
}

func textsIn(lang string) *texts {
	if Language(lang) == Russian {
		return &ru
	}
	return &en
}

var en = texts{
	keyReady: "🔑 Your VPN key is ready. Your subscription runs until %s.\n\n" +
		"Your key (tap to copy):\n<code>%s</code>",
	hintOutline: "Install Outline (getoutline.org), tap +, paste the key and connect, " +
		"or scan this QR code in the app.",
	hintV2Ray: "Install Hiddify (or v2rayNG, Streisand), add the subscription link " +
		"from the clipboard or scan this QR code, and connect.",
	paymentReceived: "Payment received, your subscription runs until %s.",
	btnSubscription: "🔑 My subscription",
	btnMenu:         "☰ Menu",
	months:          [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
}

var ru = texts{
	keyReady: "🔑 Ваш ключ VPN готов. Подписка действует до %s.\n\n" +
		"Ваш ключ (нажмите, чтобы скопировать):\n<code>%s</code>",
	hintOutline: "Установите Outline (getoutline.org), нажмите +, вставьте ключ и подключитесь " +
		"или отсканируйте этот QR-код в приложении.",
	hintV2Ray: "Установите Hiddify (или v2rayNG, Streisand), добавьте ссылку подписки " +
		"из буфера обмена или отсканируйте этот QR-код и подключитесь.",
	paymentReceived: "Оплата получена, подписка действует до %s.",
	btnSubscription: "🔑 Моя подписка",
	btnMenu:         "☰ Меню",
	months:          [12]string{"янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"},
}

// date writes a time as the bot-handler does: "2 Jan 2027 15:04 UTC", with
// the month in the user's language, always in UTC.
func (t *texts) date(ts time.Time) string {
	ts = ts.UTC()
	return fmt.Sprintf("%d %s %d %s UTC", ts.Day(), t.months[ts.Month()-1], ts.Year(), ts.Format("15:04"))
}
