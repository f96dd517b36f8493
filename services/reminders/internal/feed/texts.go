package feed

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/reminders/internal/store"
)

// feedTexts are what the feed says to the seller, in one language, plain
// text (no parse mode: usernames go in as they are).
type feedTexts struct {
	// kinds name the events by ledger kind or admin action.
	kinds map[string]string
	// action names an admin action without a name of its own; takes it.
	action      string
	user        string // takes the user id
	byAdmin     string // takes who the admin is
	fromBalance string // takes the amount
	days, hours botui.Noun
	// summary heads the day's summary; takes the day (2006-01-02).
	summary  string
	newUsers string
	trials   string
	payments string
	topUps   string
	buys     string
	renewals string
	refunds  string
	revenue  string
	bans     string
	none     string
}

var feedEN = feedTexts{
	kinds: map[string]string{
		shop.LedgerTrial:    "🎁 trial",
		shop.LedgerPayment:  "💳 payment",
		shop.LedgerTopUp:    "💰 top-up",
		shop.LedgerPurchase: "🛒 purchase",
		shop.LedgerRenewal:  "🔄 renewal",
		shop.LedgerRefund:   "↩️ refund",
		actionBan:           "🚫 ban",
		actionUnban:         "✅ unban",
	},
	action:      "🛠 %s",
	user:        "user %d",
	byAdmin:     "by admin %s",
	fromBalance: "%s from balance",
	days:        botui.EnglishNoun("day", "days"),
	hours:       botui.EnglishNoun("hour", "hours"),
	summary:     "📊 Summary of %s (UTC)",
	newUsers:    "👤 new users",
	trials:      "🎁 trials",
	payments:    "💳 payments",
	topUps:      "💰 top-ups",
	buys:        "🛒 purchases from balance",
	renewals:    "🔄 renewals",
	refunds:     "↩️ refunds",
	revenue:     "💵 revenue",
	bans:        "🚫 bans",
	none:        "none",
}

var feedRU = feedTexts{
	kinds: map[string]string{
		shop.LedgerTrial:    "🎁 пробный период",
		shop.LedgerPayment:  "💳 оплата",
		shop.LedgerTopUp:    "💰 пополнение",
		shop.LedgerPurchase: "🛒 покупка",
		shop.LedgerRenewal:  "🔄 автопродление",
		shop.LedgerRefund:   "↩️ возврат",
		actionBan:           "🚫 бан",
		actionUnban:         "✅ разбан",
	},
	action:      "🛠 действие %s",
	user:        "пользователь %d",
	byAdmin:     "админ %s",
	fromBalance: "%s с баланса",
	days:        botui.RussianNoun("день", "дня", "дней"),
	hours:       botui.RussianNoun("час", "часа", "часов"),
	summary:     "📊 Итоги %s (UTC)",
	newUsers:    "👤 новые пользователи",
	trials:      "🎁 пробные периоды",
	payments:    "💳 оплаты",
	topUps:      "💰 пополнения",
	buys:        "🛒 покупки с баланса",
	renewals:    "🔄 автопродления",
	refunds:     "↩️ возвраты",
	revenue:     "💵 выручка",
	bans:        "🚫 баны",
	none:        "нет",
}

func textsIn(lang string) *feedTexts { return botui.Pick(lang, &feedEN, &feedRU) }

// sep separates the parts of a line.
const sep = " · "

// line is event e in one line: "💳 payment · user 123 (@name) · $4.99 · 30 days".
func (t *feedTexts) line(e store.FeedEvent) string {
	kind, ok := t.kinds[e.Kind]
	if !ok {
		kind = fmt.Sprintf(t.action, e.Kind)
	}
	parts := []string{kind}
	if e.UserID != 0 {
		parts = append(parts, t.who(t.user, e.UserID, e.Username))
	}
	if e.Source == store.SourceAudit {
		return strings.Join(append(parts, fmt.Sprintf(t.byAdmin, t.who("%d", e.AdminID, e.AdminUsername))), sep)
	}
	switch {
	case e.Money != 0:
		parts = append(parts, botui.Amount(e.Currency, e.Money))
	case e.Amount != 0:
		// Paid from the balance: what it took.
		parts = append(parts, fmt.Sprintf(t.fromBalance, botui.Amount(e.Currency, -e.Amount)))
	}
	if e.Duration != 0 {
		parts = append(parts, t.duration(e.Duration))
	}
	return strings.Join(parts, sep)
}

// who writes a user by id in format, with their @username when known.
func (t *feedTexts) who(format string, id int64, username string) string {
	s := fmt.Sprintf(format, id)
	if username != "" {
		s += " (@" + username + ")"
	}
	return s
}

// duration writes access given (or, negative, taken back) in whole days,
// or hours when it is not whole days: "30 days", "−30 days", "12 hours".
func (t *feedTexts) duration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "−", -d
	}
	if d%(24*time.Hour) == 0 {
		return sign + t.days(int(d/(24*time.Hour)))
	}
	return sign + t.hours(int(d.Round(time.Hour)/time.Hour))
}

// summaryText is the day's summary, a line per count.
func (t *feedTexts) summaryText(day time.Time, s store.DaySummary) string {
	count := func(name string, n int, money map[string]int64) string {
		line := name + ": " + strconv.Itoa(n)
		if m := t.money(money, false); m != "" {
			line += sep + m
		}
		return line
	}
	return strings.Join([]string{
		fmt.Sprintf(t.summary, day.Format(time.DateOnly)),
		count(t.newUsers, s.NewUsers, nil),
		count(t.trials, s.Trials, nil),
		count(t.payments, s.Payments, s.PaymentMoney),
		count(t.topUps, s.TopUps, s.TopUpMoney),
		count(t.buys, s.Purchases, nil),
		count(t.renewals, s.Renewals, nil),
		count(t.refunds, s.Refunds, s.RefundMoney),
		t.revenue + ": " + t.money(s.Revenue, true),
		count(t.bans, s.Bans, nil),
	}, "\n")
}

// money writes amounts by currency, USD first ("$14.97 · 500 ⭐"); with
// orNone, "none" when there are none, else "".
func (t *feedTexts) money(by map[string]int64, orNone bool) string {
	currencies := make([]string, 0, len(by))
	for c, v := range by {
		if v != 0 {
			currencies = append(currencies, c)
		}
	}
	slices.SortFunc(currencies, func(a, b string) int {
		// USD before XTR before anything else, alphabetically.
		return strings.Compare(currencyRank(a), currencyRank(b))
	})
	parts := make([]string, len(currencies))
	for i, c := range currencies {
		parts[i] = botui.Amount(c, by[c])
	}
	if len(parts) == 0 && orNone {
		return t.none
	}
	return strings.Join(parts, sep)
}

func currencyRank(c string) string {
	switch c {
	case shop.CurrencyUSD:
		return "0"
	case shop.CurrencyXTR:
		return "1"
	}
	return "2" + c
}
