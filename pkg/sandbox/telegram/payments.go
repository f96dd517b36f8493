package telegram

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Payments in Telegram Stars, the way Telegram runs them: the bot sends an
// invoice (sendInvoice, currency XTR); when the user pays, Telegram asks the
// bot first with a pre_checkout_query and cancels the payment unless the bot
// answers ok within 10 seconds; then it charges the user and sends the bot a
// message with successful_payment, identified by telegram_payment_charge_id.
// Telegram may deliver that message more than once (ResendSuccessfulPayment).

// currencyStars is Telegram Stars, the only currency the sandbox charges in:
// other currencies need a payment provider, and the sandbox has none.
const currencyStars = "XTR"

// Limits of sendInvoice, from the Bot API documentation.
const (
	maxInvoiceTitle       = 32  // characters
	maxInvoiceDescription = 255 // characters
	maxInvoicePayload     = 128 // bytes
)

// Invoice is the invoice of a message the bot sent with sendInvoice.
type Invoice struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	// Payload is the bot's invoice_payload, which the user never sees and
	// which comes back in the pre-checkout query and the payment.
	Payload  string `json:"payload"`
	Currency string `json:"currency"`
	// Total is the price in the currency's smallest units (whole Stars).
	Total int64 `json:"total"`
	// ChargeID is the telegram_payment_charge_id once the user paid; an
	// invoice message can be paid once.
	ChargeID string `json:"charge_id,omitempty"`
}

// PaymentResult is how a payment the user started with PayInvoice ended.
type PaymentResult struct {
	// Accepted is true when the bot answered the pre-checkout query with ok
	// and the user was charged.
	Accepted bool `json:"accepted"`
	// ErrorMessage is the bot's error_message when it refused.
	ErrorMessage string `json:"error_message,omitempty"`
	// TimedOut is true when the bot did not answer the pre-checkout query in
	// time (Config.PreCheckoutTimeout), so Telegram cancelled the payment.
	TimedOut bool `json:"timed_out,omitempty"`
	// ChargeID is the telegram_payment_charge_id of an accepted payment.
	ChargeID string `json:"charge_id,omitempty"`
	// UpdateID is the update_id of the successful_payment message.
	UpdateID int64 `json:"update_id,omitempty"`
	// CheckoutUpdateID is the update_id of the pre_checkout_query the
	// payment asked the bot first, answered or not.
	CheckoutUpdateID int64 `json:"checkout_update_id,omitempty"`
}

// ErrInvoicePaid is returned by PayInvoice for an invoice already paid.
var ErrInvoicePaid = errors.New("invoice already paid")

type apiInvoice struct {
	Title          string `json:"title"`
	Description    string `json:"description"`
	StartParameter string `json:"start_parameter"`
	Currency       string `json:"currency"`
	TotalAmount    int64  `json:"total_amount"`
}

type apiSuccessfulPayment struct {
	Currency                string `json:"currency"`
	TotalAmount             int64  `json:"total_amount"`
	InvoicePayload          string `json:"invoice_payload"`
	TelegramPaymentChargeID string `json:"telegram_payment_charge_id"`
	ProviderPaymentChargeID string `json:"provider_payment_charge_id"`
}

type apiPreCheckoutQuery struct {
	ID             string   `json:"id"`
	From           *apiUser `json:"from"`
	Currency       string   `json:"currency"`
	TotalAmount    int64    `json:"total_amount"`
	InvoicePayload string   `json:"invoice_payload"`
}

// preCheckout is a pre_checkout_query waiting for the bot's answer.
type preCheckout struct {
	answered chan struct{} // closed by answerPreCheckoutQuery
	// done is set when the query was answered or gave up waiting: either
	// way it cannot be answered (again).
	done         bool
	ok           bool
	errorMessage string
}

type labeledPrice struct {
	Label  string `json:"label"`
	Amount int64  `json:"amount"`
}

// invoice reads and checks sendInvoice's invoice fields. Errors that
// Telegram names (PAYMENT_PROVIDER_INVALID, STARS_INVOICE_INVALID,
// INVOICE_PAYLOAD_INVALID) use its words; the length limits are the
// documented ones.
func (p params) invoice() (*Invoice, *apiError) {
	inv := &Invoice{
		Title: p.str("title"), Description: p.str("description"),
		Payload: p.str("payload"), Currency: p.str("currency"),
	}
	for _, f := range []struct{ name, value string }{
		{"title", inv.Title}, {"description", inv.Description}, {"payload", inv.Payload}, {"currency", inv.Currency},
	} {
		if f.value == "" {
			return nil, badRequest(fmt.Sprintf("parameter %q is required", f.name))
		}
	}
	if utf8.RuneCountInString(inv.Title) > maxInvoiceTitle {
		return nil, badRequest(fmt.Sprintf("invoice title must be 1-%d characters", maxInvoiceTitle))
	}
	if utf8.RuneCountInString(inv.Description) > maxInvoiceDescription {
		return nil, badRequest(fmt.Sprintf("invoice description must be 1-%d characters", maxInvoiceDescription))
	}
	if len(inv.Payload) > maxInvoicePayload {
		return nil, badRequest("INVOICE_PAYLOAD_INVALID")
	}
	if inv.Currency != currencyStars {
		return nil, badRequest("PAYMENT_PROVIDER_INVALID")
	}
	var prices []labeledPrice
	set, e := p.decode("prices", &prices)
	if e != nil {
		return nil, e
	}
	if !set {
		return nil, badRequest(`parameter "prices" is required`)
	}
	tip, e := p.int64("max_tip_amount")
	if e != nil {
		return nil, e
	}
	// Stars invoices have exactly one price and no tips.
	if len(prices) != 1 || tip != 0 || p.str("suggested_tip_amounts") != "" {
		return nil, badRequest("STARS_INVOICE_INVALID")
	}
	if prices[0].Amount <= 0 {
		return nil, badRequest("total price must be positive")
	}
	inv.Total = prices[0].Amount
	return inv, nil
}

// invoiceButtons checks an invoice's inline keyboard: Telegram wants its
// first button to be the Pay button.
func invoiceButtons(buttons [][]Button) *apiError {
	if len(buttons) > 0 && !buttons[0][0].Pay {
		return badRequest("REPLY_MARKUP_BUY_EMPTY")
	}
	return nil
}

func (s *Server) sendInvoice(r *request) (any, *apiError) {
	p := r.params
	chatID, e := p.chatID()
	if e != nil {
		return nil, e
	}
	inv, e := p.invoice()
	if e != nil {
		return nil, e
	}
	markup, buttons, e := p.inlineKeyboard()
	if e != nil {
		return nil, e
	}
	if e := invoiceButtons(buttons); e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	replyTo, e := s.replyToLocked(p, chatID)
	if e != nil {
		return nil, e
	}
	m := &storedMessage{
		Message: Message{
			ChatID: chatID, Buttons: buttons, ReplyTo: replyTo, Invoice: inv, Date: time.Now(),
		},
		fromBot: true, markup: markup, startParam: p.str("start_parameter"),
	}
	s.addLocked(m)
	s.repliedLocked(chatID, replyTo)
	s.broadcastLocked()
	return s.apiMessageLocked(m, true), nil
}

func (s *Server) answerPreCheckoutQuery(r *request) (any, *apiError) {
	p := r.params
	if p.str("ok") == "" {
		return nil, badRequest(`parameter "ok" is required`)
	}
	ok, errorMessage := p.bool("ok"), p.str("error_message")
	if !ok && strings.TrimSpace(errorMessage) == "" {
		return nil, badRequest("error_message must be non-empty if ok is false")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answeredLocked(s.checkouts[p.str("pre_checkout_query_id")])
	q, found := s.preCheckouts[p.str("pre_checkout_query_id")]
	if !found || q.done {
		return nil, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	q.done, q.ok, q.errorMessage = true, ok, errorMessage
	close(q.answered)
	return true, nil
}

// PayInvoice makes the user pay the invoice the bot sent as message
// messageID in their chat, as Telegram runs it: a pre_checkout_query update
// goes to the bot, and the payment waits for the bot's answer at most
// Config.PreCheckoutTimeout. If the bot accepts, the user is charged and a
// message with successful_payment (a new, unique charge id) is queued for
// the bot. It returns how the payment ended; an error means the payment could
// not start (no such invoice, ErrInvoicePaid, a payment of it in progress) or
// the sandbox closed while waiting.
func (s *Server) PayInvoice(userID, messageID int64) (PaymentResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m *storedMessage
	if c, ok := s.chats[userID]; ok {
		m = c.find(messageID)
	}
	switch {
	case m == nil || !m.fromBot || m.Invoice == nil:
		return PaymentResult{}, fmt.Errorf("paying message %d in chat %d: no such invoice", messageID, userID)
	case m.Invoice.ChargeID != "":
		return PaymentResult{}, fmt.Errorf("paying message %d in chat %d: %w", messageID, userID, ErrInvoicePaid)
	case m.paying:
		return PaymentResult{}, fmt.Errorf("paying message %d in chat %d: a payment of it is in progress", messageID, userID)
	}
	m.paying = true
	res, err := s.payLocked(userID, *m.Invoice)
	m.paying = false
	if err != nil {
		return PaymentResult{}, fmt.Errorf("paying message %d in chat %d: %w", messageID, userID, err)
	}
	if res.Accepted {
		m.Invoice.ChargeID = res.ChargeID // the invoice shows as paid
	}
	return res, nil
}

// payLocked runs one payment of inv by the user: the pre-checkout query,
// the wait for the bot's answer (with s.mu released) and, if the bot
// accepts, the charge and its successful_payment message. It is called, and
// returns, with s.mu held.
func (s *Server) payLocked(userID int64, inv Invoice) (PaymentResult, error) {
	updateID := s.nextUpdateIDLocked()
	queryID := strconv.FormatInt(s.botID, 10) + strconv.FormatInt(updateID, 10)
	q := &preCheckout{answered: make(chan struct{})}
	s.preCheckouts[queryID] = q
	s.checkouts[queryID] = updateID
	body, err := json.Marshal(apiUpdate{UpdateID: updateID, PreCheckoutQuery: &apiPreCheckoutQuery{
		ID: queryID, From: fromUser(s.userLocked(userID)),
		Currency: inv.Currency, TotalAmount: inv.Total, InvoicePayload: inv.Payload,
	}})
	if err != nil {
		s.log.Error().Err(err).Msg("encoding pre_checkout_query update; the payment will time out")
	} else {
		s.pushLocked(userID, updateID, "pre_checkout_query", body)
	}
	s.mu.Unlock()

	timer := time.NewTimer(s.cfg.PreCheckoutTimeout)
	defer timer.Stop()
	select {
	case <-q.answered:
	case <-timer.C:
	case <-s.ctx.Done():
	}

	s.mu.Lock()
	delete(s.preCheckouts, queryID)
	switch {
	case !q.done && s.ctx.Err() != nil:
		q.done = true
		return PaymentResult{}, errors.New("sandbox closed")
	case !q.done:
		q.done = true // a late answer now fails, as in Telegram
		return PaymentResult{TimedOut: true, CheckoutUpdateID: updateID}, nil
	case !q.ok:
		return PaymentResult{ErrorMessage: q.errorMessage, CheckoutUpdateID: updateID}, nil
	}

	// Charge ids are random, not counted: a bot's database outlives a
	// sandbox restart (`make run`), and a repeated charge id would look like
	// one payment delivered twice.
	chargeID, providerID := "stx"+rand.Text(), "sandbox_"+rand.Text()
	paid := &storedMessage{
		Message: Message{ChatID: userID, Date: time.Now()},
		payment: &apiSuccessfulPayment{
			Currency: inv.Currency, TotalAmount: inv.Total, InvoicePayload: inv.Payload,
			TelegramPaymentChargeID: chargeID, ProviderPaymentChargeID: providerID,
		},
	}
	s.addLocked(paid)
	s.payments[chargeID] = paid
	s.broadcastLocked()
	return PaymentResult{Accepted: true, ChargeID: chargeID, UpdateID: s.pushMessageLocked(paid), CheckoutUpdateID: updateID}, nil
}

// ResendSuccessfulPayment delivers the successful_payment message of an
// earlier payment again under a new update_id, as Telegram may: the bot must
// apply a payment once per charge id, not once per update. It returns the
// new update_id.
func (s *Server) ResendSuccessfulPayment(userID int64, chargeID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	paid, ok := s.payments[chargeID]
	if !ok || paid.ChatID != userID {
		return 0, fmt.Errorf("resending payment %q of user %d: no such payment", chargeID, userID)
	}
	return s.pushMessageLocked(paid), nil
}

// refundStarPayment gives a user back the Stars of a payment, once: as
// Telegram, it refuses a charge id that is not one of the user's payments,
// and one refunded already.
func (s *Server) refundStarPayment(r *request) (any, *apiError) {
	userID, e := r.params.int64("user_id")
	if e != nil {
		return nil, e
	}
	chargeID := r.params.str("telegram_payment_charge_id")
	if chargeID == "" {
		return nil, badRequest("CHARGE_ID_EMPTY")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	paid, ok := s.payments[chargeID]
	switch {
	case !ok || paid.ChatID != userID:
		return nil, badRequest("CHARGE_NOT_FOUND")
	case s.refunded[chargeID]:
		return nil, badRequest("CHARGE_ALREADY_REFUNDED")
	}
	s.refunded[chargeID] = true
	return true, nil
}

// Refunded reports whether the payment with the charge id was refunded
// (refundStarPayment).
func (s *Server) Refunded(chargeID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refunded[chargeID]
}

// pushMessageLocked queues a message update for the user's message m and
// returns its update_id.
func (s *Server) pushMessageLocked(m *storedMessage) int64 {
	id := s.nextUpdateIDLocked()
	body, err := json.Marshal(apiUpdate{UpdateID: id, Message: s.apiMessageLocked(m, true)})
	if err != nil {
		s.log.Error().Err(err).Msg("encoding message update")
		return id
	}
	s.pushLocked(m.ChatID, id, "message", body)
	return id
}
