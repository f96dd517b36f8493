package telegram_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// starsInvoice is a one-month plan as the bot-handler would send it.
func starsInvoice(payload string) *tele.Invoice {
	return &tele.Invoice{
		Title: "VPN, 1 month", Description: "Unlimited traffic, all locations",
		Payload: payload, Currency: "XTR", Prices: []tele.Price{{Label: "1 month", Amount: 150}},
	}
}

// paymentUpdate is what a bot's payment handler saw.
type paymentUpdate struct {
	updateID int
	payment  tele.Payment
}

func TestTelebotSellsForStarsAndAppliesEachChargeOnce(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()
	b.Poller = &tele.LongPoller{Timeout: time.Second}

	// The bot accepts only the orders it still considers open, as the
	// bot-handler validates the order before answering.
	open := map[string]bool{"order-1": true}
	checkouts := make(chan tele.PreCheckoutQuery, 4)
	b.Handle(tele.OnCheckout, func(c tele.Context) error {
		q := c.PreCheckoutQuery()
		checkouts <- *q
		if !open[q.Payload] {
			return c.Accept("This order has expired, please choose a plan again.")
		}
		return c.Accept()
	})
	payments := paymentsOf(b)
	run(t, b)

	user := &tele.User{ID: 31}
	e.s.SetUser(telegram.User{ID: 31, FirstName: "Ann", LanguageCode: "ru"})
	sent, err := b.Send(user, starsInvoice("order-1"))
	require.NoError(t, err)
	require.NotNil(t, sent.Invoice, "telebot must see the invoice Telegram returns")
	require.Equal(t, "VPN, 1 month", sent.Invoice.Title)
	require.Equal(t, "XTR", sent.Invoice.Currency)
	require.Equal(t, 150, sent.Invoice.Total)
	chat := e.s.Messages(31)
	require.Len(t, chat, 1)
	require.Equal(t, &telegram.Invoice{
		Title: "VPN, 1 month", Description: "Unlimited traffic, all locations",
		Payload: "order-1", Currency: "XTR", Total: 150,
	}, chat[0].Invoice)

	res, err := e.s.PayInvoice(31, int64(sent.ID))
	require.NoError(t, err)
	require.True(t, res.Accepted, "%+v", res)
	require.True(t, strings.HasPrefix(res.ChargeID, "stx"), res.ChargeID)
	q := <-checkouts
	require.Equal(t, tele.PreCheckoutQuery{
		Sender: q.Sender, ID: q.ID, Currency: "XTR", Payload: "order-1", Total: 150,
	}, q)
	require.Equal(t, int64(31), q.Sender.ID)
	require.Equal(t, "ru", q.Sender.LanguageCode)

	first := receivePayment(t, payments)
	require.Equal(t, int(res.UpdateID), first.updateID)
	require.Equal(t, "XTR", first.payment.Currency)
	require.Equal(t, 150, first.payment.Total)
	require.Equal(t, "order-1", first.payment.Payload)
	require.Equal(t, res.ChargeID, first.payment.TelegramChargeID)
	require.NotEmpty(t, first.payment.ProviderChargeID)
	require.Equal(t, res.ChargeID, e.s.Messages(31)[0].Invoice.ChargeID, "the invoice shows as paid")

	// Telegram delivers the same payment again: same charge, new update.
	resent, err := e.s.ResendSuccessfulPayment(31, res.ChargeID)
	require.NoError(t, err)
	again := receivePayment(t, payments)
	require.Equal(t, int(resent), again.updateID)
	require.NotEqual(t, first.updateID, again.updateID)
	require.Equal(t, first.payment, again.payment)

	_, err = e.s.PayInvoice(31, int64(sent.ID))
	require.ErrorIs(t, err, telegram.ErrInvoicePaid)
	_, err = e.s.ResendSuccessfulPayment(32, res.ChargeID)
	require.Error(t, err, "a charge belongs to the user who paid")

	// A refused order charges nothing and sends no payment.
	stale, err := b.Send(user, starsInvoice("order-0"))
	require.NoError(t, err)
	refused, err := e.s.PayInvoice(31, int64(stale.ID))
	require.NoError(t, err)
	require.Equal(t, "This order has expired, please choose a plan again.", refused.ErrorMessage)
	require.False(t, refused.Accepted)
	require.Positive(t, refused.CheckoutUpdateID, "the refused query was an update of its own")
	require.Empty(t, e.s.Messages(31)[1].Invoice.ChargeID)
	require.Eventually(t, func() bool { return e.s.Stats().Pending == 0 }, 5*time.Second, 10*time.Millisecond)
	select {
	case p := <-payments:
		t.Fatalf("a refused order was charged: %+v", p)
	default:
	}
}

// TestAnInvoiceLinkIsPaidFromAMiniAppLikeAnInvoiceMessage: createInvoiceLink
// makes a link, not a message; paying it asks the bot first and puts the
// successful payment in the payer's chat, and each payment of the link is a
// charge of its own.
func TestAnInvoiceLinkIsPaidFromAMiniAppLikeAnInvoiceMessage(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()
	b.Poller = &tele.LongPoller{Timeout: time.Second}
	b.Handle(tele.OnCheckout, func(c tele.Context) error { return c.Accept() })
	payments := paymentsOf(b)
	run(t, b)

	link, err := b.CreateInvoiceLink(*starsInvoice("order-7"))
	require.NoError(t, err)
	slug, ok := telegram.InvoiceLinkSlug(link)
	require.True(t, ok, link)
	inv, err := e.s.InvoiceLink(slug)
	require.NoError(t, err)
	require.Equal(t, telegram.Invoice{
		Title: "VPN, 1 month", Description: "Unlimited traffic, all locations", Currency: "XTR", Total: 150,
	}, inv, "the payload is the bot's, never shown")
	require.Empty(t, e.s.Messages(41), "a link is no message")

	e.s.SetUser(telegram.User{ID: 41, FirstName: "Ann"})
	res, err := e.s.PayInvoiceLink(41, slug)
	require.NoError(t, err)
	require.True(t, res.Accepted, "%+v", res)
	p := receivePayment(t, payments)
	require.Equal(t, "order-7", p.payment.Payload)
	require.Equal(t, res.ChargeID, p.payment.TelegramChargeID)
	_, err = e.s.ResendSuccessfulPayment(41, res.ChargeID)
	require.NoError(t, err, "the payment is a message in the payer's chat")
	require.Equal(t, res.ChargeID, receivePayment(t, payments).payment.TelegramChargeID)

	again, err := e.s.PayInvoiceLink(41, slug)
	require.NoError(t, err)
	require.True(t, again.Accepted)
	require.NotEqual(t, res.ChargeID, again.ChargeID, "a link paid again is charged again")
	require.Equal(t, again.ChargeID, receivePayment(t, payments).payment.TelegramChargeID)

	_, err = e.s.PayInvoiceLink(41, "nosuchslug")
	require.ErrorIs(t, err, telegram.ErrNoSuchInvoiceLink)
	_, ok = telegram.InvoiceLinkSlug("https://t.me/CryptoBot?start=x")
	require.False(t, ok)

	bad := *starsInvoice("order-8")
	bad.Currency = "USD"
	_, err = b.CreateInvoiceLink(bad)
	require.ErrorContains(t, err, "PAYMENT_PROVIDER_INVALID", "a link is checked as an invoice is")
}

// paymentsOf has b's payment handler put each payment it sees on the
// channel it returns.
func paymentsOf(b *tele.Bot) <-chan paymentUpdate {
	payments := make(chan paymentUpdate, 4)
	b.Handle(tele.OnPayment, func(c tele.Context) error {
		payments <- paymentUpdate{updateID: c.Update().ID, payment: *c.Message().Payment}
		return nil
	})
	return payments
}

func receivePayment(t *testing.T, payments <-chan paymentUpdate) paymentUpdate {
	t.Helper()
	select {
	case p := <-payments:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("the bot got no successful_payment")
		return paymentUpdate{}
	}
}

// checkoutUpdate is the part of a pre_checkout_query or successful_payment
// update the raw-API tests read.
type checkoutUpdate struct {
	UpdateID         int64 `json:"update_id"`
	PreCheckoutQuery *struct {
		ID             string `json:"id"`
		InvoicePayload string `json:"invoice_payload"`
		TotalAmount    int64  `json:"total_amount"`
	} `json:"pre_checkout_query"`
	Message *struct {
		MessageID         int64 `json:"message_id"`
		SuccessfulPayment *struct {
			TelegramPaymentChargeID string `json:"telegram_payment_charge_id"`
			InvoicePayload          string `json:"invoice_payload"`
		} `json:"successful_payment"`
	} `json:"message"`
}

// nextUpdate long-polls for the first update after offset.
func (e *env) nextUpdate(offset int64) checkoutUpdate {
	e.t.Helper()
	got := decode[[]checkoutUpdate](e.t, e.callJSON("getUpdates", map[string]any{"offset": offset, "timeout": 5, "limit": 1}).Result)
	require.Len(e.t, got, 1)
	return got[0]
}

func (e *env) sendStarsInvoice(chatID int64, payload string) int64 {
	e.t.Helper()
	sent := e.callJSON("sendInvoice", map[string]any{
		"chat_id": chatID, "title": "VPN, 1 month", "description": "Unlimited", "payload": payload,
		"currency": "XTR", "prices": []map[string]any{{"label": "1 month", "amount": 150}},
	})
	require.True(e.t, sent.OK, sent.Description)
	return decode[struct {
		MessageID int64 `json:"message_id"`
	}](e.t, sent.Result).MessageID
}

func TestPaymentIsCancelledWhenTheBotAnswersTooLate(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{PreCheckoutTimeout: time.Second})
	msgID := e.sendStarsInvoice(8, "order-8")

	res, err := e.s.PayInvoice(8, msgID)
	require.NoError(t, err)
	require.Equal(t, telegram.PaymentResult{TimedOut: true, CheckoutUpdateID: res.CheckoutUpdateID}, res)
	late := e.nextUpdate(0)
	require.NotNil(t, late.PreCheckoutQuery)
	require.Equal(t, late.UpdateID, res.CheckoutUpdateID)
	answer := e.callJSON("answerPreCheckoutQuery", map[string]any{"pre_checkout_query_id": late.PreCheckoutQuery.ID, "ok": true})
	require.Equal(t, "Bad Request: query is too old and response timeout expired or query ID is invalid", answer.Description)
	require.Empty(t, e.s.Messages(8)[0].Invoice.ChargeID)

	// The user may try again, and a bot that answers in time is paid.
	retry := e.payAnswering(8, msgID, late.UpdateID+1)
	require.Equal(t, "order-8", retry.PreCheckoutQuery.InvoicePayload)
}

// payAnswering has the user pay the invoice of message msgID in chat while
// the test plays the bot: it reads the pre-checkout query (the first update
// from offset on), accepts it, and requires the payment to go through. It
// returns the query's update.
func (e *env) payAnswering(chat, msgID, offset int64) checkoutUpdate {
	e.t.Helper()
	paid := make(chan telegram.PaymentResult, 1)
	go func() {
		r, err := e.s.PayInvoice(chat, msgID)
		if err != nil {
			r.ErrorMessage = err.Error()
		}
		paid <- r
	}()
	query := e.nextUpdate(offset)
	require.NotNil(e.t, query.PreCheckoutQuery)
	require.True(e.t, e.callJSON("answerPreCheckoutQuery", map[string]any{"pre_checkout_query_id": query.PreCheckoutQuery.ID, "ok": true}).OK)
	select {
	case r := <-paid:
		require.True(e.t, r.Accepted, "%+v", r)
		require.Equal(e.t, query.UpdateID, r.CheckoutUpdateID)
	case <-time.After(5 * time.Second):
		e.t.Fatal("PayInvoice did not return after the bot answered")
	}
	return query
}

func TestSandboxHTTPAPIPaysInvoicesAndResendsPayments(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	msgID := e.sendStarsInvoice(12, "order-12")

	// The pay call returns only once the bot has answered, so it runs aside
	// while the test plays the bot over the raw Bot API.
	type reply struct {
		status int
		body   []byte
		err    error
	}
	paid := make(chan reply, 1)
	go func() {
		resp, err := e.client.Post(fmt.Sprintf("%s/sandbox/users/12/invoices/%d/pay", e.s.URL(), msgID), "application/json", nil)
		if err != nil {
			paid <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		paid <- reply{status: resp.StatusCode, body: body, err: err}
	}()
	query := e.nextUpdate(0)
	require.NotNil(t, query.PreCheckoutQuery)
	require.Equal(t, int64(150), query.PreCheckoutQuery.TotalAmount)
	require.True(t, e.callJSON("answerPreCheckoutQuery", map[string]any{"pre_checkout_query_id": query.PreCheckoutQuery.ID, "ok": true}).OK)
	var got reply
	select {
	case got = <-paid:
	case <-time.After(5 * time.Second):
		t.Fatal("the pay call did not return after the bot answered")
	}
	require.NoError(t, got.err)
	require.Equal(t, http.StatusOK, got.status, string(got.body))
	res := decode[telegram.PaymentResult](t, got.body)
	require.True(t, res.Accepted)
	require.NotEmpty(t, res.ChargeID)

	status, body := e.sandbox(http.MethodPost, "/sandbox/users/12/payments/"+res.ChargeID+"/resend", "")
	require.Equal(t, http.StatusOK, status, string(body))
	resent := decode[struct {
		UpdateID int64 `json:"update_id"`
	}](t, body)

	first, second := e.nextUpdate(res.UpdateID), e.nextUpdate(res.UpdateID+1)
	require.Equal(t, resent.UpdateID, second.UpdateID)
	for _, u := range []checkoutUpdate{first, second} {
		require.NotNil(t, u.Message)
		require.NotNil(t, u.Message.SuccessfulPayment)
		require.Equal(t, res.ChargeID, u.Message.SuccessfulPayment.TelegramPaymentChargeID)
		require.Equal(t, "order-12", u.Message.SuccessfulPayment.InvoicePayload)
	}
	require.Equal(t, first.Message.MessageID, second.Message.MessageID, "the same message, delivered twice")

	// A refund gives the Stars back once, and only to the payer.
	refund := map[string]any{"user_id": 12, "telegram_payment_charge_id": res.ChargeID}
	notTheirs := e.callJSON("refundStarPayment", map[string]any{"user_id": 13, "telegram_payment_charge_id": res.ChargeID})
	require.False(t, notTheirs.OK)
	require.Equal(t, "Bad Request: CHARGE_NOT_FOUND", notTheirs.Description)
	require.False(t, e.s.Refunded(res.ChargeID))
	require.True(t, e.callJSON("refundStarPayment", refund).OK)
	require.True(t, e.s.Refunded(res.ChargeID))
	again := e.callJSON("refundStarPayment", refund)
	require.False(t, again.OK)
	require.Equal(t, "Bad Request: CHARGE_ALREADY_REFUNDED", again.Description)

	status, body = e.sandbox(http.MethodPost, fmt.Sprintf("/sandbox/users/12/invoices/%d/pay", msgID), "")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, string(body), "invoice already paid")
	status, _ = e.sandbox(http.MethodPost, "/sandbox/users/12/invoices/999/pay", "")
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = e.sandbox(http.MethodPost, "/sandbox/users/12/payments/nope/resend", "")
	require.Equal(t, http.StatusBadRequest, status)
}

func TestInvoiceErrorsMatchTelegram(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	valid := func() map[string]any {
		return map[string]any{
			"chat_id": 3, "title": "VPN", "description": "1 month", "payload": "order-3", "provider_token": "",
			"currency": "XTR", "prices": `[{"label":"1 month","amount":150}]`,
		}
	}
	for _, tc := range []struct {
		name  string
		field string
		value any
		want  string
	}{
		{"fiat needs a provider", "currency", "USD", "Bad Request: PAYMENT_PROVIDER_INVALID"},
		{"two prices", "prices", `[{"label":"a","amount":100},{"label":"b","amount":50}]`, "Bad Request: STARS_INVOICE_INVALID"},
		{"tips", "max_tip_amount", 10, "Bad Request: STARS_INVOICE_INVALID"},
		{"free", "prices", `[{"label":"a","amount":0}]`, "Bad Request: total price must be positive"},
		{"no prices", "prices", nil, `Bad Request: parameter "prices" is required`},
		{"no title", "title", "", `Bad Request: parameter "title" is required`},
		{"long title", "title", strings.Repeat("я", 33), "Bad Request: invoice title must be 1-32 characters"},
		{"long description", "description", strings.Repeat("d", 256), "Bad Request: invoice description must be 1-255 characters"},
		{"long payload", "payload", strings.Repeat("p", 129), "Bad Request: INVOICE_PAYLOAD_INVALID"},
		{"keyboard without Pay first", "reply_markup", `{"inline_keyboard":[[{"text":"Plans","callback_data":"plans"}]]}`, "Bad Request: REPLY_MARKUP_BUY_EMPTY"},
	} {
		params := valid()
		params[tc.field] = tc.value
		got := e.callJSON("sendInvoice", params)
		require.Equal(t, http.StatusBadRequest, got.Status, tc.name)
		require.Equal(t, tc.want, got.Description, tc.name)
	}
	require.Empty(t, e.s.Messages(3))

	withPay := valid()
	withPay["reply_markup"] = `{"inline_keyboard":[[{"text":"Pay ⭐150","pay":true}],[{"text":"Back","callback_data":"plans"}]]}`
	sent := e.callJSON("sendInvoice", withPay)
	require.True(t, sent.OK, sent.Description)
	msgs := e.s.Messages(3)
	require.Len(t, msgs, 1)
	require.Equal(t, [][]telegram.Button{{{Text: "Pay ⭐150", Pay: true}}, {{Text: "Back", Data: "plans"}}}, msgs[0].Buttons)
	edit := e.callJSON("editMessageText", map[string]any{"chat_id": 3, "message_id": msgs[0].ID, "text": "x"})
	require.Equal(t, "Bad Request: there is no text in the message to edit", edit.Description)

	refuseSilently := e.callJSON("answerPreCheckoutQuery", map[string]any{"pre_checkout_query_id": "1", "ok": false})
	require.Equal(t, "Bad Request: error_message must be non-empty if ok is false", refuseSilently.Description)
	unknown := e.callJSON("answerPreCheckoutQuery", map[string]any{"pre_checkout_query_id": "1", "ok": true})
	require.Equal(t, "Bad Request: query is too old and response timeout expired or query ID is invalid", unknown.Description)

	_, err := e.s.PayInvoice(3, 999)
	require.ErrorContains(t, err, "no such invoice")

	// An invoice is a message like any other: refused to a user who blocked the bot.
	e.s.Block(3)
	require.Equal(t, http.StatusForbidden, e.callJSON("sendInvoice", valid()).Status)
}
