package bot

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// KindTopUp is a /topup command, as Process reports it.
const KindTopUp = "topup"

// EventPurchaseApplied is a plan bought from the balance.
const EventPurchaseApplied = "PURCHASE_APPLIED"

// historyLimit is how many ledger rows My payments lists.
const historyLimit = 10

// maxTopUpLength bounds the amount a /topup reads, in characters: a longer
// number is past every limit, and would overflow when read as cents.
const maxTopUpLength = 12

// present puts a screen before the user: show for a press, reply for a
// command.
type present func(ctx context.Context, c tele.Context, s Screen) error

// balanceView reads what the balance screen shows the user.
func (b *Bot) balanceView(ctx context.Context, userID int64) (BalanceView, error) {
	balances, err := b.shop.Balances(ctx, userID)
	if err != nil {
		return BalanceView{}, err
	}
	usd, err := b.shop.TopUpLimits(shop.CurrencyUSD)
	if err != nil {
		return BalanceView{}, err
	}
	xtr, err := b.shop.TopUpLimits(shop.CurrencyXTR)
	if err != nil {
		return BalanceView{}, err
	}
	return BalanceView{Balances: balances, CryptoPay: b.cryptoPay != nil, USD: usd, XTR: xtr}, nil
}

// balance shows the user's balance and the ways to top it up.
func (b *Bot) balance(ctx context.Context, c tele.Context, lang string) error {
	v, err := b.balanceView(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	return b.show(ctx, c, BalanceScreen(lang, v))
}

// history shows the user's latest payments, with the plans' titles.
func (b *Bot) history(ctx context.Context, c tele.Context, lang string) error {
	entries, err := b.shop.History(ctx, c.Sender().ID, historyLimit)
	if err != nil {
		return err
	}
	orders, err := b.shop.Orders(ctx, c.Sender().ID, ordersLimit)
	if err != nil {
		return err
	}
	plans, err := b.shop.Plans(ctx)
	if err != nil {
		return err
	}
	return b.show(ctx, c, HistoryScreen(lang, entries, orders, plans))
}

// createCryptoInvoice is the CreateExternalFunc that makes an order's Crypto
// Pay invoice for what (a plan's title), naming the order in its payload
// for the payment-watcher.
func (b *Bot) createCryptoInvoice(what string) shop.CreateExternalFunc {
	return func(ctx context.Context, inv shop.Invoice, expiresIn time.Duration) (string, string, error) {
		ci, err := b.cryptoPay.CreateInvoice(ctx, cryptoInvoice(inv, what, b.cryptoAssets, expiresIn))
		if err != nil {
			return "", "", err
		}
		payURL := ci.BotInvoiceURL
		if payURL == "" {
			payURL = ci.MiniAppInvoiceURL
		}
		return strconv.FormatInt(ci.InvoiceID, 10), payURL, nil
	}
}

// topUpCryptoPress is a press of a dollar top-up button; a button of an
// amount it cannot read shows the balance.
func (b *Bot) topUpCryptoPress(ctx context.Context, c tele.Context, lang, arg string) error {
	cents, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return b.balance(ctx, c, lang)
	}
	return b.topUpCrypto(ctx, c, lang, cents, b.show)
}

// topUpCrypto shows the user's Crypto Pay top-up of cents with its link,
// as payCrypto shows a plan's: the order on offer for that amount, or a new
// one whose invoice it makes (shop.CryptoPayTopUp), so every press or
// command for that amount shows the same link while it may be offered.
func (b *Bot) topUpCrypto(ctx context.Context, c tele.Context, lang string, cents int64, out present) error {
	if b.cryptoPay == nil {
		limits, err := b.shop.TopUpLimits(shop.CurrencyXTR)
		if err != nil {
			return err
		}
		return out(ctx, c, TopUpCryptoOffScreen(lang, limits))
	}
	inv, err := b.shop.CryptoPayTopUp(ctx, c.Sender().ID, cents, b.createCryptoInvoice(balanceTextsIn(lang).cryptoTopUpItem))
	switch {
	case errors.Is(err, shop.ErrTopUpAmount):
		return b.outOfRange(ctx, c, lang, shop.CurrencyUSD, cents, out)
	case errors.Is(err, shop.ErrUnknownUser):
		return out(ctx, c, NeedStartScreen(lang))
	case errors.Is(err, shop.ErrExternal):
		b.log.Warn().Ctx(ctx).Err(err).Str("event", EventCryptoPayDown).Int64("user_id", c.Sender().ID).Int64("cents", cents).
			Msg("creating the Crypto Pay invoice of a top-up failed; the next request tries again, or the order expires unpaid")
		return out(ctx, c, TopUpDownScreen(lang))
	case err != nil:
		return err
	}
	return out(ctx, c, TopUpCryptoScreen(lang, inv))
}

// outOfRange refuses a top-up of amount in currency, saying its limits.
func (b *Bot) outOfRange(ctx context.Context, c tele.Context, lang, currency string, amount int64, out present) error {
	limits, err := b.shop.TopUpLimits(currency)
	if err != nil {
		return err
	}
	return out(ctx, c, TopUpOutOfRangeScreen(lang, currency, amount, limits))
}

// topUpStarsPress is a press of a Stars top-up button: the press's order
// (pressRequest), whose invoice is sent below, and the balance screen says
// so. A button of an amount it cannot read shows the balance.
func (b *Bot) topUpStarsPress(ctx context.Context, c tele.Context, lang, arg string) error {
	stars, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return b.balance(ctx, c, lang)
	}
	sent, err := b.sendStarsTopUp(ctx, c, lang, pressRequest(c), stars, b.show)
	if err != nil || !sent {
		return err
	}
	return b.show(ctx, c, TopUpStarsSentScreen(lang))
}

// sendStarsTopUp makes the request's order of a top-up of stars and sends
// its Telegram Stars invoice, as payStars does a plan's: the payload names
// the order and the total is its stars. A retry of the request sends the
// same order's invoice again, which is paid once. sent is false when it
// showed, through out, why there is no invoice.
func (b *Bot) sendStarsTopUp(ctx context.Context, c tele.Context, lang, requestID string, stars int64, out present) (sent bool, err error) {
	inv, err := b.shop.CreateStarsTopUpOnce(ctx, requestID, c.Sender().ID, stars)
	switch {
	case errors.Is(err, shop.ErrTopUpAmount):
		return false, b.outOfRange(ctx, c, lang, shop.CurrencyXTR, stars, out)
	case errors.Is(err, shop.ErrUnknownUser):
		return false, out(ctx, c, NeedStartScreen(lang))
	case err != nil:
		return false, err
	}
	title, description := StarsTopUpInvoice(lang, stars)
	if err := b.sendStarsInvoice(ctx, c, inv, title, description); err != nil {
		return false, err
	}
	return true, nil
}

// messageRequest names the request of a message: its retry, or Telegram
// delivering it again, is the same request, so the order a command makes
// is found again, and a promo code is used once.
func messageRequest(c tele.Context) string {
	return "message:" + strconv.FormatInt(c.Chat().ID, 10) + ":" + strconv.Itoa(c.Message().ID)
}

// onTopUp is /topup <amount>: dollars with Crypto Pay ("/topup 12.50"), or
// stars ("/topup 300 stars"). Without an amount it can read, it says how to
// write one.
func (b *Bot) onTopUp(ctx context.Context, c tele.Context) error {
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	currency, amount, ok := parseTopUp(c.Message().Payload)
	switch {
	case !ok:
		v, err := b.balanceView(ctx, c.Sender().ID)
		if err != nil {
			return err
		}
		return b.reply(ctx, c, TopUpUsageScreen(lang, v))
	case currency == shop.CurrencyUSD:
		return b.topUpCrypto(ctx, c, lang, amount, b.reply)
	}
	_, err = b.sendStarsTopUp(ctx, c, lang, messageRequest(c), amount, b.reply)
	return err
}

// Words that name the currency of a /topup amount.
var (
	usdWords   = []string{"$", "usd", "dollar", "dollars", "доллар", "доллара", "долларов"}
	starsWords = []string{"⭐", "xtr", "star", "stars", "звезда", "звезды", "звёзды", "звезд", "звёзд"}
)

// parseTopUp reads the amount of a /topup: a number of dollars (two
// decimals at most, a comma or a point) or of stars (whole), its currency
// named after it, or before it ("$12.50"); dollars when none is. ok is
// false for anything else.
func parseTopUp(payload string) (currency string, amount int64, ok bool) {
	// The star emoji comes with or without its variation selector, and
	// either sign may touch the number.
	s := strings.ToLower(strings.ReplaceAll(payload, "\uFE0F", ""))
	for _, sign := range []string{"$", "⭐"} {
		s = strings.ReplaceAll(s, sign, " "+sign+" ")
	}
	fields := strings.Fields(s)
	var number string
	for _, f := range fields {
		switch {
		case slices.Contains(usdWords, f) && currency != shop.CurrencyXTR:
			currency = shop.CurrencyUSD
		case slices.Contains(starsWords, f) && currency != shop.CurrencyUSD:
			currency = shop.CurrencyXTR
		case number == "" && len(f) <= maxTopUpLength:
			number = f
		default:
			return "", 0, false
		}
	}
	if number == "" {
		return "", 0, false
	}
	if currency == shop.CurrencyXTR {
		stars, err := strconv.ParseInt(number, 10, 64)
		return currency, stars, err == nil
	}
	cents, err := shop.ParseCents(strings.Replace(number, ",", ".", 1))
	return shop.CurrencyUSD, cents, err == nil
}

// payFromBalance buys the plan from the user's balance in currency, once
// per press (its op key is the press's: a retry of the press, or the press
// handled on two replicas, buys once and shows that purchase), wakes the
// activation worker as onPayment does, and shows the new expiry. A balance
// short of the price is told, with a way to top it up.
func (b *Bot) payFromBalance(ctx context.Context, c tele.Context, lang, planID, currency string) error {
	p, ok, err := b.orderPlan(ctx, c, lang, planID)
	if !ok {
		return err
	}
	userID := c.Sender().ID
	buy, applied, err := b.shop.BuyFromBalance(ctx, "purchase:"+pressRequest(c), userID, p.ID, currency)
	switch {
	case errors.Is(err, shop.ErrInsufficientBalance):
		return b.insufficient(ctx, c, lang, p, currency)
	case errors.Is(err, shop.ErrUnknownUser):
		return b.show(ctx, c, NeedStartScreen(lang))
	case err != nil:
		return err
	}
	log := b.log.With().Int64("user_id", userID).Str("plan", p.ID).Str("currency", currency).
		Int64("subscription_id", buy.Sub.ID).Ctx(ctx).Logger()
	if applied {
		log.Info().Str("event", EventPurchaseApplied).Int64("amount", -buy.Entry.Amount).Time("expires_at", buy.Sub.ExpiresAt).
			Msg("plan bought from the balance")
	} else {
		log.Info().Msg("plan bought from the balance by this press already (a retry); showing that purchase")
	}
	// As onPayment: the expiry this purchase set, so a retry publishes the
	// same id, unless a later payment extended the period since.
	b.requestActivation(ctx, buy.Sub, ReasonPayment, buy.Sub.ExpiresAt)
	balances, err := b.shop.Balances(ctx, userID)
	if err != nil {
		return err
	}
	return b.show(ctx, c, PaidFromBalanceScreen(lang, p, buy, balances))
}

// insufficient tells the user their balance in currency does not cover p.
func (b *Bot) insufficient(ctx context.Context, c tele.Context, lang string, p shop.Plan, currency string) error {
	price, err := shop.PlanPrice(p, currency)
	if err != nil {
		return err
	}
	balance, err := b.shop.Balance(ctx, c.Sender().ID, currency)
	if err != nil {
		return err
	}
	return b.show(ctx, c, InsufficientBalanceScreen(lang, p, currency, price, balance))
}

// confirmStarsTopUp tells the user a Stars top-up arrived, with their
// balance now, and marks it told; onPayment applied it, once, and it buys
// no period, so nothing is activated.
func (b *Bot) confirmStarsTopUp(ctx context.Context, c tele.Context, lang string, p *tele.Payment) error {
	balance, err := b.shop.Balance(ctx, c.Sender().ID, shop.CurrencyXTR)
	if err != nil {
		return err
	}
	if err := b.send(ctx, c, TopUpReceivedScreen(lang, shop.CurrencyXTR, int64(p.Total), balance)); err != nil {
		return err
	}
	return b.shop.MarkStarsAnnounced(ctx, p.Payload)
}
