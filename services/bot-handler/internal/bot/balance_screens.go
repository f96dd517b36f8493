package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// The top-ups the balance screen offers as buttons, in minor units: cents
// with Crypto Pay, stars with Telegram Stars. Those outside the limits of
// their currency are left out.
var (
	topUpPresetsUSD = []int64{500, 1000, 2500}
	topUpPresetsXTR = []int64{250, 500, 1000}
)

// BalanceView is what the balance screen shows.
type BalanceView struct {
	// Balances are the user's balances (shop.Shop.Balances: the non-zero ones).
	Balances []shop.Balance
	// CryptoPay offers top-ups in dollars; without it, in stars only.
	CryptoPay bool
	// USD and XTR are the limits of a top-up in each currency.
	USD, XTR shop.Limits
}

// balanceOf is the user's balance in currency: 0 when they have none.
func balanceOf(balances []shop.Balance, currency string) int64 {
	for _, b := range balances {
		if b.Currency == currency {
			return b.Amount
		}
	}
	return 0
}

// balancesText writes the balances in dollars and in stars, an empty one
// as zero, so that the user sees what each currency holds.
func balancesText(balances []shop.Balance) string {
	return botui.Amount(shop.CurrencyUSD, balanceOf(balances, shop.CurrencyUSD)) + " · " +
		botui.Amount(shop.CurrencyXTR, balanceOf(balances, shop.CurrencyXTR))
}

// topUpHow says how to top up by any amount, in each currency offered,
// within its limits.
func (v BalanceView) topUpHow(bt *balanceTexts) string {
	var lines []string
	if v.CryptoPay {
		lines = append(lines, fmt.Sprintf(bt.topUpHowUSD, botui.Amount(shop.CurrencyUSD, v.USD.Min), botui.Amount(shop.CurrencyUSD, v.USD.Max)))
	}
	lines = append(lines, fmt.Sprintf(bt.topUpHowXTR, botui.Amount(shop.CurrencyXTR, v.XTR.Min), botui.Amount(shop.CurrencyXTR, v.XTR.Max)))
	return strings.Join(lines, "\n")
}

// presetRow is a row of top-up buttons of action, one per preset amount
// within limits; nil when none is.
func presetRow(currency, action string, presets []int64, limits shop.Limits) []Button {
	var row []Button
	for _, amount := range presets {
		if amount >= limits.Min && amount <= limits.Max {
			row = append(row, data(botui.Amount(currency, amount), botui.Callback(action, fmt.Sprint(amount))))
		}
	}
	return row
}

// BalanceScreen shows the user's balance, buttons that top it up by preset
// amounts (in dollars with Crypto Pay, when it is on, and in stars), how to
// top it up by any amount (/topup), and the way to the user's payments.
func BalanceScreen(lang string, v BalanceView) Screen {
	t, bt := textsIn(lang), balanceTextsIn(lang)
	text := fmt.Sprintf(bt.balance, balancesText(v.Balances)) + "\n\n" + bt.balanceAbout + "\n\n" + bt.topUpHow + "\n" + v.topUpHow(bt)
	var rows [][]Button
	if v.CryptoPay {
		if row := presetRow(shop.CurrencyUSD, botui.ActionTopUpCrypto, topUpPresetsUSD, v.USD); row != nil {
			rows = append(rows, row)
		}
	}
	if row := presetRow(shop.CurrencyXTR, botui.ActionTopUpStars, topUpPresetsXTR, v.XTR); row != nil {
		rows = append(rows, row)
	}
	rows = append(rows,
		[]Button{data(bt.btnHistory, botui.ActionHistory)},
		[]Button{data(t.BtnPlans, botui.ActionPlans), data(t.BtnMenu, botui.ActionMenu)})
	return Screen{Text: text, Buttons: rows}
}

// backToBalance is the row that goes back to the balance screen.
func backToBalance(t *texts) []Button { return []Button{data(t.btnBack, botui.ActionBalance)} }

// TopUpUsageScreen answers a /topup whose amount it cannot read: how to
// write one.
func TopUpUsageScreen(lang string, v BalanceView) Screen {
	t, bt := textsIn(lang), balanceTextsIn(lang)
	return Screen{Text: bt.topUpUsage + "\n" + v.topUpHow(bt), Buttons: [][]Button{backToBalance(t)}}
}

// TopUpOutOfRangeScreen refuses a top-up of amount, outside the limits of
// its currency.
func TopUpOutOfRangeScreen(lang, currency string, amount int64, limits shop.Limits) Screen {
	t, bt := textsIn(lang), balanceTextsIn(lang)
	return Screen{
		Text: fmt.Sprintf(bt.topUpOutOfRange, botui.Amount(currency, amount),
			botui.Amount(currency, limits.Min), botui.Amount(currency, limits.Max)),
		Buttons: [][]Button{backToBalance(t)},
	}
}

// TopUpCryptoOffScreen answers a top-up in dollars while Crypto Pay is off:
// stars are what is left.
func TopUpCryptoOffScreen(lang string, xtr shop.Limits) Screen {
	t, bt := textsIn(lang), balanceTextsIn(lang)
	return Screen{Text: bt.topUpCryptoOff + "\n" + BalanceView{XTR: xtr}.topUpHow(bt), Buttons: [][]Button{backToBalance(t)}}
}

// TopUpCryptoScreen sends the user to pay the Crypto Pay invoice of a
// top-up, as CryptoInvoiceScreen does for a plan.
func TopUpCryptoScreen(lang string, inv shop.Invoice) Screen {
	t, bt := textsIn(lang), balanceTextsIn(lang)
	amount := botui.Amount(shop.CurrencyUSD, inv.Price)
	return Screen{
		Text: fmt.Sprintf(bt.topUpCrypto, amount),
		Buttons: [][]Button{
			{{Text: fmt.Sprintf(bt.btnPayURL, amount), URL: inv.PayURL}},
			{paidButton(lang, inv.ID)},
			backToBalance(t),
		},
	}
}

// TopUpDownScreen says Crypto Pay did not make the top-up's invoice.
func TopUpDownScreen(lang string) Screen {
	return Screen{Text: balanceTextsIn(lang).paymentsDown, Buttons: [][]Button{backToBalance(textsIn(lang))}}
}

// TopUpStarsSentScreen replaces the balance screen once the Stars invoice
// of a top-up is sent below.
func TopUpStarsSentScreen(lang string) Screen {
	return Screen{Text: balanceTextsIn(lang).starsSent, Buttons: [][]Button{backToBalance(textsIn(lang))}}
}

// StarsTopUpInvoice is the title and description of the Stars invoice of a
// top-up of stars, within Telegram's limits (32 and 255 characters).
func StarsTopUpInvoice(lang string, stars int64) (title, description string) {
	bt := balanceTextsIn(lang)
	return cut(bt.starsTitle, 32), cut(fmt.Sprintf(bt.starsDescription, botui.Amount(shop.CurrencyXTR, stars)), 255)
}

// TopUpReceivedScreen confirms a top-up the bot applied (a Stars one): what
// it added and the balance now, in currency, with the way to spend it.
func TopUpReceivedScreen(lang, currency string, amount, balance int64) Screen {
	t, bt := textsIn(lang), balanceTextsIn(lang)
	return Screen{
		Text: fmt.Sprintf(bt.TopUpReceived, botui.Amount(currency, amount), botui.Amount(currency, balance)),
		Buttons: [][]Button{
			{data(t.BtnPlans, botui.ActionPlans), data(bt.BtnBalance, botui.ActionBalance)},
			menuButton(t),
		},
	}
}

// PlanWithBalanceScreen is PlanScreen with, first, a button to pay the plan
// from the balance in each currency whose balance covers its price.
func PlanWithBalanceScreen(lang string, p shop.Plan, cryptoPay bool, balances []shop.Balance) Screen {
	s, bt := PlanScreen(lang, p, cryptoPay), balanceTextsIn(lang)
	var rows [][]Button
	for _, pay := range [][2]string{{shop.CurrencyUSD, botui.ActionPayBalanceUSD}, {shop.CurrencyXTR, botui.ActionPayBalanceXTR}} {
		currency, action := pay[0], pay[1]
		price, err := shop.PlanPrice(p, currency)
		if err != nil || balanceOf(balances, currency) < price {
			continue
		}
		rows = append(rows, []Button{data(fmt.Sprintf(bt.btnPayBalance, botui.Amount(currency, price)), botui.Callback(action, p.ID))})
	}
	s.Buttons = append(rows, s.Buttons...)
	return s
}

// PaidFromBalanceScreen confirms a plan bought from the balance: what it
// cost, the new expiry (and, for a period without a key yet, that the key
// is coming), and the balance left.
func PaidFromBalanceScreen(lang string, p shop.Plan, buy shop.Purchase, balances []shop.Balance) Screen {
	t, bt := textsIn(lang), balanceTextsIn(lang)
	text := fmt.Sprintf(bt.paidFromBalance, botui.Escape(t.planTitle(p)), botui.Amount(buy.Entry.Currency, -buy.Entry.Amount),
		t.Date(buy.Sub.ExpiresAt))
	if buy.Sub.Access == nil || buy.Sub.Access.RevokedAt != nil {
		text += t.keyOnItsWay
	}
	text += "\n" + fmt.Sprintf(bt.balanceLine, balancesText(balances))
	return Screen{
		Text:    text,
		Buttons: [][]Button{{data(t.BtnSubscription, botui.ActionSubscription)}, menuButton(t)},
	}
}

// InsufficientBalanceScreen refuses to pay plan p from a balance in
// currency that does not cover its price, and offers a top-up.
func InsufficientBalanceScreen(lang string, p shop.Plan, currency string, price, balance int64) Screen {
	t, bt := textsIn(lang), balanceTextsIn(lang)
	return Screen{
		Text: fmt.Sprintf(bt.insufficient, botui.Amount(currency, balance), botui.Escape(t.planTitle(p)), botui.Amount(currency, price)),
		Buttons: [][]Button{
			{data(bt.btnTopUp, botui.ActionBalance)},
			{data(t.btnBack, botui.Callback(botui.ActionPlan, p.ID))},
		},
	}
}

// HistoryScreen lists the user's latest ledger rows, newest first: when,
// what (the plan by its title among plans, the plans on offer; by its id
// once it is no longer offered), and what it paid, returned, added to or
// took from the balance and the access.
func HistoryScreen(lang string, entries []shop.Entry, orders []shop.Order, plans []shop.Plan) Screen {
	t, bt := textsIn(lang), balanceTextsIn(lang)
	titles := make(map[string]string, len(plans))
	for _, p := range plans {
		titles[p.ID] = t.planTitle(p)
	}
	lines := []string{bt.history, ""}
	if len(entries) == 0 {
		lines = append(lines, bt.historyEmpty)
	}
	for _, e := range entries {
		what := botui.Escape(bt.entryLabel(e, titles))
		if moved := bt.moved(t, e); moved != "" {
			what += ": " + moved
		}
		lines = append(lines, fmt.Sprintf(bt.historyRow, t.Date(e.CreatedAt), what))
	}
	lines = append(lines, orderLines(lang, orders, titles)...)
	return Screen{
		Text: strings.Join(lines, "\n"),
		Buttons: [][]Button{
			{data(bt.BtnBalance, botui.ActionBalance), data(t.BtnSubscription, botui.ActionSubscription)},
			menuButton(t),
		},
	}
}

// entryLabel says what a ledger row was.
func (bt *balanceTexts) entryLabel(e shop.Entry, titles map[string]string) string {
	title, ok := titles[e.Ref]
	if !ok {
		title = e.Ref
	}
	switch e.Kind {
	case shop.LedgerPayment:
		return fmt.Sprintf(bt.kindPayment, title)
	case shop.LedgerTopUp:
		return bt.kindTopUp
	case shop.LedgerPurchase:
		return fmt.Sprintf(bt.kindPurchase, title)
	case shop.LedgerTrial:
		return bt.kindTrial
	case shop.LedgerRefund:
		return bt.kindRefund
	case shop.LedgerPromo:
		return fmt.Sprintf(bt.kindPromo, e.Ref)
	case shop.LedgerReferral:
		return bt.kindReferral
	case shop.LedgerRenewal:
		return fmt.Sprintf(bt.kindRenewal, title)
	case shop.LedgerGrant:
		return bt.kindGrant
	}
	return e.Kind
}

// moved says what a ledger row paid or returned, and what it added to or
// took from the balance and the access.
func (bt *balanceTexts) moved(t *texts, e shop.Entry) string {
	var parts []string
	switch {
	case e.Money > 0:
		parts = append(parts, fmt.Sprintf(bt.movedPaid, botui.Amount(e.Currency, e.Money)))
	case e.Money < 0:
		parts = append(parts, fmt.Sprintf(bt.movedReturned, botui.Amount(e.Currency, -e.Money)))
	}
	if e.Amount != 0 {
		sign := ""
		if e.Amount > 0 {
			sign = "+"
		}
		parts = append(parts, fmt.Sprintf(bt.movedBalance, sign+botui.Amount(e.Currency, e.Amount)))
	}
	if e.Duration != 0 {
		sign, d := "+", e.Duration
		if d < 0 {
			sign, d = "−", -d
		}
		parts = append(parts, fmt.Sprintf(bt.movedAccess, sign+t.historyLength(d)))
	}
	return strings.Join(parts, bt.movedSeparator)
}

// historyLength writes a length of access: in whole days, rounded, from a
// day on (what a refund took back is seldom whole days); shorter, as a
// plan's length is written.
func (t *texts) historyLength(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day {
		return t.Days(int((d + day/2) / day))
	}
	return t.Duration(d)
}

// balanceLine is the line of the balance on My subscription.
func (v SubscriptionView) balanceLine(t *texts) string {
	return "\n" + fmt.Sprintf(balanceTextsIn(t.Lang).balanceLine, balancesText(v.Balances))
}

// balanceRow is the row of buttons to the balance and the payments, on My
// subscription.
func balanceRow(t *texts) []Button {
	bt := balanceTextsIn(t.Lang)
	return []Button{data(bt.BtnBalance, botui.ActionBalance), data(bt.btnHistory, botui.ActionHistory)}
}

// balanceButton is the main menu's button to the balance.
func balanceButton(t *texts) Button {
	return data(botui.BalanceTextsIn(t.Lang).BtnBalance, botui.ActionBalance)
}
