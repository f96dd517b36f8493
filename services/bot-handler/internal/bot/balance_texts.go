package bot

import "github.com/vpnbot/vpnbot/pkg/botui"

// balanceTexts are the words of the balance's screens in one language, HTML,
// beside the ones the workers' notices share (botui.BalanceTexts).
type balanceTexts struct {
	*botui.BalanceTexts

	// The balance screen: its title (takes the balances), what the balance
	// is for, and how to top it up by any amount (each takes the limits).
	balance       string
	balanceAbout  string
	topUpHow      string
	topUpHowUSD   string
	topUpHowXTR   string
	balanceLine   string // My subscription's line; takes the balances
	btnHistory    string
	btnTopUp      string
	btnPayBalance string // takes the price

	// /topup: without an amount it reads, and an amount outside the limits
	// (takes the amount asked, the least and the most).
	topUpUsage      string
	topUpOutOfRange string
	topUpCryptoOff  string

	// A Crypto Pay top-up (takes the amount): the screen, its pay button,
	// what its invoice is for at Crypto Pay.
	topUpCrypto     string
	btnPayURL       string
	cryptoTopUpItem string
	paymentsDown    string
	// A Stars top-up: its invoice's title, and description (takes the
	// amount), and what replaces the balance screen once it is sent.
	starsTitle       string
	starsDescription string
	starsSent        string

	// A plan paid from the balance (takes the title, the price, the new
	// expiry), and one the balance does not cover (takes the balance, the
	// title, the price).
	paidFromBalance string
	insufficient    string

	// My payments: the title, with no payment yet, each row (takes the
	// date, and what it was and moved), what a row was, and what it moved.
	history        string
	historyEmpty   string
	historyRow     string
	kindPayment    string // takes the plan's title
	kindTopUp      string
	kindPurchase   string // takes the plan's title
	kindTrial      string
	kindRefund     string
	kindPromo      string // takes the code
	kindReferral   string
	kindRenewal    string // takes the plan's title
	kindGrant      string
	movedPaid      string // takes the money
	movedReturned  string // takes the money
	movedBalance   string // takes the signed amount
	movedAccess    string // takes the signed length
	movedSeparator string
}

// balanceTextsIn returns the balance texts of lang, English for a language
// the bot does not speak.
func balanceTextsIn(lang string) *balanceTexts { return botui.Pick(lang, &balanceEN, &balanceRU) }

var balanceEN = balanceTexts{
	BalanceTexts: botui.BalanceTextsIn(botui.English),

	balance:       "<b>💰 Your balance:</b> %s",
	balanceAbout:  "Plans are paid from the balance at once, with no invoice.",
	topUpHow:      "Top up with a button below, or by any amount:",
	topUpHowUSD:   "/topup 12.50 — dollars, with Crypto Pay (%s to %s)",
	topUpHowXTR:   "/topup 300 stars — Telegram Stars (%s to %s)",
	balanceLine:   "💰 Balance: %s",
	btnHistory:    "🧾 My payments",
	btnTopUp:      "💰 Top up",
	btnPayBalance: "💰 From the balance (%s)",

	topUpUsage:      "Which amount? For example:",
	topUpOutOfRange: "A top-up of %s is not possible: it must be from %s to %s.",
	topUpCryptoOff:  "Top-ups in dollars go through Crypto Pay, which is not available right now. Top up with Telegram Stars:",

	topUpCrypto: "<b>Top-up of %s</b>\n\nPay with Crypto Pay using the button below: the invoice is valid for a limited time. " +
		"The amount is added to your balance as soon as the payment arrives.",
	btnPayURL:        "Pay %s",
	cryptoTopUpItem:  "balance top-up",
	paymentsDown:     "Payments are down for a moment, try again in a minute.",
	starsTitle:       "Balance top-up",
	starsDescription: "Adds %s to your balance in the VPN bot.",
	starsSent:        "Here is your invoice: pay it with Telegram Stars, and the stars are added to your balance.",

	paidFromBalance: "Paid from your balance: <b>%s</b> (%s).\nYour subscription runs until %s.",
	insufficient:    "Your balance (%s) does not cover <b>%s</b> (%s). Top it up, or pay another way.",

	history:        "<b>🧾 My payments</b>",
	historyEmpty:   "No payments yet.",
	historyRow:     "• %s — %s",
	kindPayment:    "%s",
	kindTopUp:      "Balance top-up",
	kindPurchase:   "%s, from the balance",
	kindTrial:      "Free trial",
	kindRefund:     "Refund",
	kindPromo:      "Promo code %s",
	kindReferral:   "Referral reward",
	kindRenewal:    "%s, renewed from the balance",
	kindGrant:      "Gift from support",
	movedPaid:      "paid %s",
	movedReturned:  "%s returned",
	movedBalance:   "balance %s",
	movedAccess:    "%s of access",
	movedSeparator: ", ",
}

var balanceRU = balanceTexts{
	BalanceTexts: botui.BalanceTextsIn(botui.Russian),

	balance:       "<b>💰 Ваш баланс:</b> %s",
	balanceAbout:  "С баланса тарифы оплачиваются сразу, без счёта.",
	topUpHow:      "Пополните кнопкой ниже или на любую сумму:",
	topUpHowUSD:   "/topup 12.50 — долларами через Crypto Pay (от %s до %s)",
	topUpHowXTR:   "/topup 300 stars — звёздами Telegram (от %s до %s)",
	balanceLine:   "💰 Баланс: %s",
	btnHistory:    "🧾 Мои платежи",
	btnTopUp:      "💰 Пополнить",
	btnPayBalance: "💰 С баланса (%s)",

	topUpUsage:      "На какую сумму? Например:",
	topUpOutOfRange: "Пополнить на %s нельзя: сумма должна быть от %s до %s.",
	topUpCryptoOff:  "Пополнение в долларах идёт через Crypto Pay, а он сейчас недоступен. Пополните звёздами Telegram:",

	topUpCrypto: "<b>Пополнение на %s</b>\n\nОплатите через Crypto Pay кнопкой ниже: счёт действует ограниченное время. " +
		"Сумма поступит на баланс, как только придёт оплата.",
	btnPayURL:        "Оплатить %s",
	cryptoTopUpItem:  "пополнение баланса",
	paymentsDown:     "Платежи временно недоступны, попробуйте через минуту.",
	starsTitle:       "Пополнение баланса",
	starsDescription: "Добавляет %s на ваш баланс в VPN-боте.",
	starsSent:        "Вот ваш счёт: оплатите его звёздами Telegram, и они поступят на баланс.",

	paidFromBalance: "Оплачено с баланса: <b>%s</b> (%s).\nПодписка действует до %s.",
	insufficient:    "Баланса (%s) не хватает на <b>%s</b> (%s). Пополните его или оплатите иначе.",

	history:        "<b>🧾 Мои платежи</b>",
	historyEmpty:   "Платежей пока нет.",
	historyRow:     "• %s — %s",
	kindPayment:    "%s",
	kindTopUp:      "Пополнение баланса",
	kindPurchase:   "%s, с баланса",
	kindTrial:      "Пробный период",
	kindRefund:     "Возврат",
	kindPromo:      "Промокод %s",
	kindReferral:   "Награда за приглашение",
	kindRenewal:    "%s, продление с баланса",
	kindGrant:      "Подарок от поддержки",
	movedPaid:      "оплачено %s",
	movedReturned:  "возвращено %s",
	movedBalance:   "баланс %s",
	movedAccess:    "доступ %s",
	movedSeparator: ", ",
}
