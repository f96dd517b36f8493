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
	// ActionSubscription, ActionMenu and ActionPlans; BtnOpenApp the one
	// that opens the Mini App.
	BtnSubscription, BtnMenu, BtnPlans, BtnOpenApp string
	// PaymentReceived confirms a payment; it takes the new expiry (Date).
	PaymentReceived string
	// KeyIntro shows a VPN key in <code>, so a tap copies it; it takes the
	// key, escaped.
	KeyIntro string
	// KeyLocation names the location a key is for; it takes the
	// location's label, escaped.
	KeyLocation string
	months      [12]string
	// A plan's length, in each unit (Duration).
	days, hours, minutes Noun
	// A plan's invoice (PlanInvoice): the title takes the plan's title,
	// the description its title and length.
	invoiceTitle, invoiceDescription string
	// Per platform, the steps of a key's setup (Setup): for an Outline
	// key, for a subscription link.
	setupOutline, setupV2Ray map[string][]string
}

// TextsIn returns the texts of lang (Pick: English for a language the bot
// does not speak).
func TextsIn(lang string) *Texts { return Pick(lang, &en, &ru) }

var en = Texts{
	Lang:               English,
	BtnSubscription:    "🔑 My subscription",
	BtnMenu:            "☰ Menu",
	BtnPlans:           "💳 Plans",
	BtnOpenApp:         "📱 Open app",
	PaymentReceived:    "Payment received, your subscription runs until %s.",
	KeyIntro:           "Your key (tap to copy):\n<code>%s</code>",
	KeyLocation:        "📍 Location: %s",
	months:             [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
	days:               EnglishNoun("day", "days"),
	hours:              EnglishNoun("hour", "hours"),
	minutes:            EnglishNoun("minute", "minutes"),
	invoiceTitle:       "VPN %s",
	invoiceDescription: "VPN access: %s (%s).",
	setupOutline:       setupOutlineEN,
	setupV2Ray:         setupV2RayEN,
}

var ru = Texts{
	Lang:               Russian,
	BtnSubscription:    "🔑 Моя подписка",
	BtnMenu:            "☰ Меню",
	BtnPlans:           "💳 Тарифы",
	BtnOpenApp:         "📱 Открыть приложение",
	PaymentReceived:    "Оплата получена, подписка действует до %s.",
	KeyIntro:           "Ваш ключ (нажмите, чтобы скопировать):\n<code>%s</code>",
	KeyLocation:        "📍 Локация: %s",
	months:             [12]string{"янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"},
	days:               RussianNoun("день", "дня", "дней"),
	hours:              RussianNoun("час", "часа", "часов"),
	minutes:            RussianNoun("минута", "минуты", "минут"),
	invoiceTitle:       "VPN %s",
	invoiceDescription: "Доступ к VPN: %s (%s).",
	setupOutline:       setupOutlineRU,
	setupV2Ray:         setupV2RayRU,
}

// Date writes a time the way users read it: "2 Jan 2027 15:04 UTC", with the
// month in t's language. Always UTC, so that every user, replica and golden
// file sees the same text.
func (t *Texts) Date(ts time.Time) string {
	ts = ts.UTC()
	return fmt.Sprintf("%d %s %d %s UTC", ts.Day(), t.months[ts.Month()-1], ts.Year(), ts.Format("15:04"))
}

// Days writes n days with the plural the language wants.
func (t *Texts) Days(n int) string { return t.days(n) }

// Duration writes a plan's length with the plural the language wants: in
// days when it is whole days, as sold plans are; else in hours, or minutes,
// for a short plan such as make run's 20-minute demo.
func (t *Texts) Duration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return t.days(int(d / (24 * time.Hour)))
	case d%time.Hour == 0:
		return t.hours(int(d / time.Hour))
	}
	return t.minutes(max(int(d.Round(time.Minute)/time.Minute), 1))
}

// Limits of a Telegram invoice's texts, in characters.
const (
	maxInvoiceTitle       = 32
	maxInvoiceDescription = 255
)

// PlanInvoice is the title and description of the invoice of a plan
// called planTitle (in t's language) that lasts d, within Telegram's
// limits: the bot's Stars invoice and the Mini App's invoice link are the
// same invoice.
func (t *Texts) PlanInvoice(planTitle string, d time.Duration) (title, description string) {
	return cutRunes(fmt.Sprintf(t.invoiceTitle, planTitle), maxInvoiceTitle),
		cutRunes(fmt.Sprintf(t.invoiceDescription, planTitle, t.Duration(d)), maxInvoiceDescription)
}

// cutRunes shortens s to at most n characters.
func cutRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
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
