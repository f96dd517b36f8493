package botui

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Texts are the words that the bot's screens and the workers' messages both
// show, in one language, HTML. Values put into them are escaped (Escape).
type Texts struct {
	// Lang is the language they are in.
	Lang string
	// BtnSubscription, BtnMenu and BtnPlans label the buttons of
	// ActionSubscription, ActionMenu and ActionPlans.
	BtnSubscription, BtnMenu, BtnPlans string
	// PaymentReceived confirms a payment; it takes the new expiry (Date).
	PaymentReceived string
	// KeyIntro shows a VPN key in <code>, so a tap copies it; it takes the
	// key, escaped.
	KeyIntro string
	// KeyLocation names the location a key is for; it takes the
	// location's label, escaped.
	KeyLocation string
	months      [12]string
}

// TextsIn returns the texts of lang (Pick: English for a language the bot
// does not speak).
func TextsIn(lang string) *Texts { return Pick(lang, &en, &ru) }

var en = Texts{
	Lang:            English,
	BtnSubscription: "🔑 My subscription",
	BtnMenu:         "☰ Menu",
	BtnPlans:        "💳 Plans",
	PaymentReceived: "Payment received, your subscription runs until %s.",
	KeyIntro:        "Your key (tap to copy):\n<code>%s</code>",
	KeyLocation:     "📍 Location: %s",
	months:          [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
}

var ru = Texts{
	Lang:            Russian,
	BtnSubscription: "🔑 Моя подписка",
	BtnMenu:         "☰ Меню",
	BtnPlans:        "💳 Тарифы",
	PaymentReceived: "Оплата получена, подписка действует до %s.",
	KeyIntro:        "Ваш ключ (нажмите, чтобы скопировать):\n<code>%s</code>",
	KeyLocation:     "📍 Локация: %s",
	months:          [12]string{"янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"},
}

// Date writes a time the way users read it: "2 Jan 2027 15:04 UTC", with the
// month in t's language. Always UTC, so that every user, replica and golden
// file sees the same text.
func (t *Texts) Date(ts time.Time) string {
	ts = ts.UTC()
	return fmt.Sprintf("%d %s %d %s UTC", ts.Day(), t.months[ts.Month()-1], ts.Year(), ts.Format("15:04"))
}

// Escape escapes a value for Telegram's HTML: only the three characters it
// requires, as Telegram decodes few named entities.
func Escape(s string) string { return htmlEscaper.Replace(s) }

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// OutlineKey reports whether a key is an Outline (Shadowsocks) key, static
// or dynamic, rather than a subscription URL for v2ray-style clients
// (Remnawave, Marzban, 3x-ui): which app the user is told to install.
func OutlineKey(key string) bool {
	return strings.HasPrefix(key, "ss://") || strings.HasPrefix(key, "ssconf://")
}

// Offered returns the locations a user chooses among, of a fleet's
// locations in their configured order: the labelled ones, when there are
// two or more; none otherwise. Keys name their location only when a choice
// is offered: with one, it says nothing.
func Offered(locations []string) []string {
	var out []string
	for _, l := range locations {
		if l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	if len(out) < 2 {
		return nil
	}
	return out
}
