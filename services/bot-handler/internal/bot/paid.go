package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// paidCheckTimeout bounds the wait for the payment-watcher's check, short
// of the update's own deadline, so the user is answered either way.
const paidCheckTimeout = 6 * time.Second

// NATSPaymentChecks asks the payment-watchers over NATS.
type NATSPaymentChecks struct {
	NC *nats.Conn
}

// CheckPayment is events.CheckPayment on c's connection.
func (c NATSPaymentChecks) CheckPayment(ctx context.Context, invoiceID int64) (string, error) {
	return events.CheckPayment(ctx, c.NC, invoiceID)
}

// paidTexts are what "I paid" says.
type paidTexts struct {
	btnPaid string
	paid    string
	pending string
	expired string
	failed  string
}

var paidEN = paidTexts{
	btnPaid: "✅ I paid",
	paid:    "✅ Your payment arrived and is applied. The receipt follows.",
	pending: "Crypto Pay has not received this payment yet. If you have just paid, give it a minute and press again; " +
		"every order is also checked automatically.",
	expired: "This order expired unpaid. Choose a plan to order again.",
	failed:  "The payment could not be checked right now. Every order is also checked automatically: if you paid, the receipt comes within a minute.",
}

var paidRU = paidTexts{
	btnPaid: "✅ Я оплатил",
	paid:    "✅ Оплата пришла и зачтена. Квитанция следом.",
	pending: "Crypto Pay ещё не получил эту оплату. Если вы только что оплатили, подождите минуту и нажмите снова; " +
		"каждый заказ к тому же проверяется автоматически.",
	expired: "Срок этого заказа истёк без оплаты. Выберите тариф, чтобы заказать снова.",
	failed:  "Сейчас проверить оплату не удалось. Каждый заказ проверяется и автоматически: если вы оплатили, квитанция придёт в течение минуты.",
}

func paidTextsIn(lang string) *paidTexts { return botui.Pick(lang, &paidEN, &paidRU) }

// paidButton is "I paid" under the Crypto Pay order invoiceID.
func paidButton(lang string, invoiceID int64) Button {
	return data(paidTextsIn(lang).btnPaid, botui.Callback(botui.ActionPaid, strconv.FormatInt(invoiceID, 10)))
}

// PaidCheckScreen answers "I paid" with the order's status once checked
// (events.Check*; "" when the check failed).
func PaidCheckScreen(lang string, inv shop.Invoice, status string) Screen {
	t, pt := textsIn(lang), paidTextsIn(lang)
	switch status {
	case events.CheckPaid:
		return Screen{Text: pt.paid, Buttons: [][]Button{{data(t.BtnSubscription, botui.ActionSubscription)}, menuButton(t)}}
	case events.CheckExpired:
		return Screen{Text: pt.expired, Buttons: [][]Button{{data(t.BtnPlans, botui.ActionPlans)}, menuButton(t)}}
	}
	text := pt.pending
	if status == "" {
		text = pt.failed
	}
	var rows [][]Button
	if inv.PayURL != "" {
		rows = append(rows, []Button{{Text: fmt.Sprintf(t.btnPayURL, inv.PriceUSD), URL: inv.PayURL}})
	}
	return Screen{Text: text, Buttons: append(rows, []Button{paidButton(lang, inv.ID)}, menuButton(t))}
}

// paid is "I paid" under a Crypto Pay order: the payment-watcher checks the
// order with Crypto Pay now, through the path its poll takes (applying and
// announcing a payment it finds, once), and the user is told what it found
// within seconds. A press of someone else's order, or of an unknown one,
// shows the menu.
func (b *Bot) paid(ctx context.Context, c tele.Context, lang, arg string) error {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return b.show(ctx, c, MenuScreen(lang, b.appURL))
	}
	inv, err := b.shop.Invoice(ctx, id)
	switch {
	case errors.Is(err, shop.ErrUnknownInvoice):
		return b.show(ctx, c, MenuScreen(lang, b.appURL))
	case err != nil:
		return err
	case inv.UserID != c.Sender().ID || inv.Provider != shop.ProviderCryptoPay:
		return b.show(ctx, c, MenuScreen(lang, b.appURL))
	}
	status := inv.Status
	if status == shop.InvoicePending {
		status = b.checkPayment(ctx, inv)
	}
	return b.show(ctx, c, PaidCheckScreen(lang, inv, status))
}

// checkPayment asks the payment-watcher about inv; "" when it could not.
func (b *Bot) checkPayment(ctx context.Context, inv shop.Invoice) string {
	if b.checks == nil {
		return ""
	}
	cctx, cancel := context.WithTimeout(ctx, paidCheckTimeout)
	defer cancel()
	status, err := b.checks.CheckPayment(cctx, inv.ID)
	if err != nil {
		b.log.Warn().Ctx(ctx).Err(err).Int64("invoice_id", inv.ID).Int64("user_id", inv.UserID).
			Msg("\"I paid\" could not be checked now; the payment-watcher's poll checks the order")
		return ""
	}
	return status
}
