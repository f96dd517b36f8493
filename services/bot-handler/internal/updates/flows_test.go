package updates_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/notify"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/updates"
)

// callbackMaxAge is the CALLBACK_MAX_AGE of the replicas of the tests of
// button presses' age, production's default.
const callbackMaxAge = time.Minute

// started makes user /start the bot and returns the welcome message, which
// carries the main menu.
func (e *env) started(user int64) sandboxtg.Message {
	e.t.Helper()
	e.say(user, "/start")
	e.forward()
	m := e.waitReplies(user, 1, answerWithin)[0]
	return m
}

// press makes user press the button with data on message msg, publishes the
// callback and waits until the bot answered it.
func (e *env) press(user, msg int64, data string) {
	e.t.Helper()
	id := e.sb.PressButton(user, msg, data)
	e.forward()
	require.Eventually(e.t, func() bool { _, ok := e.sb.CallbackAnswer(id); return ok },
		answerWithin, 10*time.Millisecond, "the press of %q is answered", data)
}

// screen waits until user's message msg reads want, and returns it.
func (e *env) screen(user, msg int64, want string) sandboxtg.Message {
	e.t.Helper()
	return e.waitMessage(user, func(m sandboxtg.Message) bool {
		return m.ID == msg && strings.Contains(m.Plain, want)
	}, "message %d shows %q", msg, want)
}

// waitMessage waits until the bot's chat with user holds a message that
// matches, and returns the first one.
func (e *env) waitMessage(user int64, matches func(sandboxtg.Message) bool, msgAndArgs ...any) sandboxtg.Message {
	e.t.Helper()
	var got sandboxtg.Message
	require.Eventually(e.t, func() bool {
		for _, m := range e.sb.Messages(user) {
			if matches(m) {
				got = m
				return true
			}
		}
		return false
	}, answerWithin, 10*time.Millisecond, msgAndArgs...)
	return got
}

func (e *env) activationRequests() int {
	e.t.Helper()
	// Only activation requests are published on EVENTS here.
	return e.streamMsgs(events.Stream)
}

func TestTrialIsGivenOnceHoweverFastThePresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	inst := e.start(e.db.Pool, handlerTimeout)
	const alice, boris = 11001, 11002
	menu := e.started(alice)
	for _, d := range []string{"trial", "plans", "sub", "lang", "help"} {
		require.True(t, menu.HasButton(d), "the main menu has %q", d)
	}

	// Two presses in a row: the partition serializes them. The second finds
	// the trial running, and shows it.
	e.sb.PressButton(alice, menu.ID, "trial")
	e.sb.PressButton(alice, menu.ID, "trial")
	e.forward()
	e.settle()
	require.Len(t, e.sb.Messages(alice), 1)
	m := e.screen(alice, menu.ID, "Your trial runs until")
	require.Contains(t, m.Plain, "Your key is on its way")
	require.True(t, m.HasButton("sub"), "a running trial offers the subscription")

	// Two presses handled at the very same time, bypassing the stream.
	bmenu := e.started(boris)
	e.sb.PressButton(boris, bmenu.ID, "trial")
	e.sb.PressButton(boris, bmenu.ID, "trial")
	raws := e.pull()
	require.Len(t, raws, 2)
	var wg sync.WaitGroup
	errs := make([]error, len(raws))
	for i, raw := range raws {
		wg.Go(func() { errs[i] = inst.handler.Handle(e.ctx(handlerTimeout), bus.Delivery{Data: raw, NumDelivered: 1}) })
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	require.Equal(t, 2, e.count(`SELECT count(*) FROM trials`))
	require.Equal(t, 2, e.count(`SELECT count(*) FROM subscriptions WHERE kind = 'trial'`))
	require.Equal(t, 2, e.activationRequests(), "one activation request per trial")
	require.Contains(t, e.sb.Messages(boris)[0].Plain, "Your trial runs until")

	// Later, with the key made, a trial again: the trial, with its key.
	_, err := e.db.Pool.Exec(e.ctx(5*time.Second), `
		INSERT INTO vpn_accesses (subscription_id, panel, external_id, access_url)
		SELECT id, 'outline', '1', 'ss://key' FROM subscriptions WHERE user_id = $1`, alice)
	require.NoError(t, err)
	e.say(alice, "/start")
	e.forward()
	again := e.waitReplies(alice, 2, answerWithin)[1]
	e.press(alice, again.ID, "trial")
	m = e.screen(alice, again.ID, "Your trial runs until")
	require.NotContains(t, m.Plain, "on its way")
	require.True(t, m.HasButton("sub"))

	// Once the trial is over: refused politely.
	_, err = e.db.Pool.Exec(e.ctx(5*time.Second), `
		WITH t AS (UPDATE trials SET started_at = started_at - interval '73 hours' WHERE user_id = $1)
		UPDATE subscriptions SET starts_at = starts_at - interval '73 hours', expires_at = expires_at - interval '73 hours'
		WHERE user_id = $1`, alice)
	require.NoError(t, err)
	e.press(alice, again.ID, "trial")
	m = e.screen(alice, again.ID, "already used your free trial")
	require.True(t, m.HasButton("plans"), "a refused trial offers the plans")
	require.Equal(t, 2, e.activationRequests(), "a press of a running trial without a key asks again, under the same id")
	require.Empty(t, e.dlq())
}

// pressUnknown queues a press of the button with data on message msg under
// query id, which the sandbox does not know: it refuses the answer as too
// old, as Telegram does a press answered already.
func (e *env) pressUnknown(user, msg int64, id, data string) {
	e.t.Helper()
	update, err := json.Marshal(map[string]any{"callback_query": map[string]any{
		"id":            id,
		"from":          map[string]any{"id": user, "is_bot": false, "first_name": "U"},
		"message":       map[string]any{"message_id": msg, "date": 1, "chat": map[string]any{"id": user, "type": "private"}},
		"chat_instance": "1",
		"data":          data,
	}})
	require.NoError(e.t, err)
	e.sb.Enqueue(user, update)
}

// pull takes the updates the sandbox holds without publishing them.
func (e *env) pull() []json.RawMessage {
	e.t.Helper()
	var out []json.RawMessage
	for batch := e.getUpdates(); len(batch) > 0; batch = e.getUpdates() {
		out = append(out, batch...)
	}
	return out
}

func TestPlanPaidWithCryptoPayOrStars(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const user = 12001
	menu := e.started(user)

	// Crypto Pay: a pay button to an invoice of the plan's price naming the order.
	e.press(user, menu.ID, "plans")
	e.screen(user, menu.ID, "1 month")
	e.press(user, menu.ID, "plan:m1")
	e.press(user, menu.ID, "pay:cp:m1")
	m := e.screen(user, menu.ID, "for $4.99")
	require.Equal(t, "Pay $4.99", m.Buttons[0][0].Text)
	invoices := e.cp.Invoices()
	require.Len(t, invoices, 1)
	require.Equal(t, invoices[0].BotInvoiceURL, m.Buttons[0][0].URL)
	require.Equal(t, "4.99", invoices[0].Amount)
	require.Equal(t, "USD", invoices[0].Fiat)
	var orderID int64
	require.NoError(t, e.db.Pool.QueryRow(e.ctx(5*time.Second),
		`SELECT id FROM invoices WHERE provider = 'cryptopay' AND external_id = $1`,
		strconv.FormatInt(invoices[0].InvoiceID, 10)).Scan(&orderID))
	require.Equal(t, "order:"+strconv.FormatInt(orderID, 10), invoices[0].Payload)

	// Stars: an invoice in XTR, paid once however often Telegram says so.
	e.press(user, menu.ID, "plan:m1")
	e.press(user, menu.ID, "pay:st:m1")
	inv := e.waitMessage(user, func(m sandboxtg.Message) bool { return m.Invoice != nil }, "a Stars invoice")
	require.Equal(t, "XTR", inv.Invoice.Currency)
	require.Equal(t, int64(250), inv.Invoice.Total)
	require.LessOrEqual(t, len([]rune(inv.Invoice.Title)), 32)

	paid := e.pay(user, inv.ID, nil)
	require.True(t, paid.Accepted, "the pre-checkout was accepted: %+v", paid)
	e.forward()
	var received []sandboxtg.Message
	require.Eventually(t, func() bool {
		received = nil
		for _, m := range e.sb.Messages(user) {
			if strings.Contains(m.Plain, "Payment received") {
				received = append(received, m)
			}
		}
		return len(received) == 1
	}, answerWithin, 10*time.Millisecond)
	e.settle()
	expiry := e.expiry(user)
	require.WithinDuration(t, time.Now().Add(30*24*time.Hour), expiry, time.Minute)

	// Delivered again after it was confirmed, it is neither applied nor
	// confirmed again.
	_, err := e.sb.ResendSuccessfulPayment(user, paid.ChargeID)
	require.NoError(t, err)
	before := len(e.sb.Messages(user))
	e.forward()
	e.settle()
	require.Equal(t, expiry, e.expiry(user), "a payment delivered twice extends once")
	require.Len(t, e.sb.Messages(user), before, "a confirmed payment is not confirmed again")
	require.Contains(t, e.logs.String(), "applied and confirmed already")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM invoices WHERE status = 'paid'`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM invoices WHERE status = 'paid' AND announced_at IS NOT NULL`))
	require.Equal(t, 1, e.activationRequests())
	require.Contains(t, e.logs.String(), "PAYMENT_APPLIED")

	// A pre-checkout whose amount was changed on the way is refused.
	e.press(user, menu.ID, "pay:st:m3")
	inv3 := e.waitMessage(user, func(m sandboxtg.Message) bool { return m.Invoice != nil && m.Invoice.Total == 650 },
		"a Stars invoice for 3 months")
	refused := e.pay(user, inv3.ID, func(raw json.RawMessage) json.RawMessage {
		return json.RawMessage(strings.Replace(string(raw), `"total_amount":650`, `"total_amount":1`, 1))
	})
	require.False(t, refused.Accepted)
	require.Contains(t, refused.ErrorMessage, "no longer valid")
	require.Equal(t, expiry, e.expiry(user))
	require.Empty(t, e.dlq())
}

// pay makes user pay the invoice message, forwarding the pre-checkout query
// (through change, if set) while the payment waits for the bot.
func (e *env) pay(user, msg int64, change func(json.RawMessage) json.RawMessage) sandboxtg.PaymentResult {
	e.t.Helper()
	type result struct {
		r   sandboxtg.PaymentResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := e.sb.PayInvoice(user, msg)
		done <- result{r, err}
	}()
	timeout := time.After(answerWithin)
	for {
		select {
		case r := <-done:
			require.NoError(e.t, r.err)
			return r.r
		case <-timeout:
			e.t.Fatal("the payment did not end")
		case <-time.After(20 * time.Millisecond):
			e.forwardWith(change)
		}
	}
}

func (e *env) expiry(user int64) time.Time {
	e.t.Helper()
	var ts time.Time
	require.NoError(e.t, e.db.Pool.QueryRow(e.ctx(5*time.Second),
		`SELECT expires_at FROM subscriptions WHERE user_id = $1 AND status = 'active'`, user).Scan(&ts))
	return ts
}

func TestLanguageKeyAndQRCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const user = 13001
	menu := e.started(user)
	e.press(user, menu.ID, "lang")
	e.press(user, menu.ID, "lang:ru")
	e.screen(user, menu.ID, "Что будем делать?")
	e.press(user, menu.ID, "trial")
	e.screen(user, menu.ID, "Пробный период действует до")
	e.press(user, menu.ID, "sub")
	e.screen(user, menu.ID, "Ключ готовится")

	// The activation worker's part, done here directly.
	const key = "ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQ@vpn.example.com:8388/?outline=1"
	_, err := e.db.Pool.Exec(e.ctx(5*time.Second), `
		INSERT INTO vpn_accesses (subscription_id, panel, external_id, access_url)
		SELECT id, 'outline', '1', $2 FROM subscriptions WHERE user_id = $1 AND status = 'active'`, user, key)
	require.NoError(t, err)
	e.press(user, menu.ID, "sub")
	m := e.screen(user, menu.ID, key)
	require.Contains(t, m.Text, "<code>"+key+"</code>")
	require.True(t, m.HasButton("setup:ios"))
	photo := e.waitMessage(user, func(m sandboxtg.Message) bool { return len(m.Photo) > 0 }, "a photo")
	qr, err := notify.QRCode(key)
	require.NoError(t, err)
	require.Equal(t, qr, photo.Photo, "the photo is the key's QR code, drawn as the activation worker draws it")
	require.Contains(t, photo.Plain, "QR")

	e.press(user, menu.ID, "setup:ios")
	e.screen(user, menu.ID, "Outline из App Store")
}

func TestAdminCommandsAndStaleButtons(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	inst := e.start(e.db.Pool, handlerTimeout, updates.WithCallbackMaxAge(callbackMaxAge))
	const user = 14001
	menu := e.started(user)
	e.started(e.admin)
	e.say(e.admin, "/stats")
	e.say(user, "/stats")
	e.say(e.admin, "/user 14001")
	e.forward()
	stats := e.waitReplies(e.admin, 3, answerWithin)
	require.Contains(t, stats[1].Plain, "Users: 2")
	require.Contains(t, stats[2].Plain, "User 14001")
	require.Contains(t, e.waitReplies(user, 2, answerWithin)[1].Plain, "I only understand commands")

	// A press that waited in the stream longer than CALLBACK_MAX_AGE is
	// skipped: not answered, not acted on, not retried or dead-lettered.
	old := e.sb.PressButton(user, menu.ID, "trial")
	raws := e.pull()
	require.Len(t, raws, 1)
	require.NoError(t, inst.handler.Handle(e.ctx(handlerTimeout),
		bus.Delivery{Data: raws[0], NumDelivered: 1, Published: time.Now().Add(-2 * callbackMaxAge)}))
	_, answered := e.sb.CallbackAnswer(old)
	require.False(t, answered, "a stale press is not answered")
	require.Len(t, e.logs.Lines(updates.EventCallbackStale), 1)
	require.Equal(t, 0, e.count(`SELECT count(*) FROM trials`), "a stale press does nothing")

	// A young press whose answer Telegram refuses as too old (its query id is
	// unknown: answered already, or its time for answers passed) is still
	// acted on: staleness is age in the stream, not the answer's fate.
	e.pressUnknown(user, menu.ID, "refused-1", "trial")
	e.forward()
	e.screen(user, menu.ID, "Your trial runs until")
	e.settle()
	require.Empty(t, e.dlq())
	require.Equal(t, 1, e.count(`SELECT count(*) FROM trials`))
	require.Equal(t, 6, e.inboxCount(), "five messages and the young press; the stale press is not recorded")
}

// A press whose screen Telegram throttles (429 on the edit) is retried after
// retry_after, and the retry's answer is refused, since the first delivery
// answered the press. The press is young, so the retry acts on it: the
// screen changes, and what the press does is done once.
func TestThrottledScreenOfAPressIsShownOnRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	inst := e.start(e.db.Pool, handlerTimeout, updates.WithCallbackMaxAge(callbackMaxAge))
	const user = 15001
	menu := e.started(user)
	throttleNextEdit := func() {
		e.sb.Inject(sandboxtg.Fault{Method: "editMessageText", ChatID: user, Status: http.StatusTooManyRequests, RetryAfter: 1, Times: 1})
	}

	throttleNextEdit()
	e.press(user, menu.ID, "plans")
	e.screen(user, menu.ID, "1 month")
	e.settle()
	got := e.sb.Stats()
	require.Equal(t, 1, got.TooManyRequests)
	require.Equal(t, 2, got.Requests["editMessageText"], "the edit was throttled once, then done")
	require.Equal(t, 2, got.Requests["answerCallbackQuery"], "the retry answered the press again, and was refused")
	require.InDelta(t, 1, counter(t, inst.reg, "vpnbot_bot_updates_total", "outcome", updates.OutcomeRetry), 0)

	// The trial is given, and its activation requested, once. The retry
	// finds the trial its own first run started, and shows it.
	throttleNextEdit()
	e.press(user, menu.ID, "trial")
	e.screen(user, menu.ID, "Your trial runs until")
	e.settle()
	require.Equal(t, 1, e.count(`SELECT count(*) FROM trials`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM subscriptions WHERE user_id = $1`, user))
	require.Equal(t, 1, e.activationRequests())
	require.Equal(t, 2, e.sb.Stats().TooManyRequests)
	require.Empty(t, e.dlq())
	require.Equal(t, 3, e.inboxCount(), "/start and two presses, each once")
}

// A pay press whose screen Telegram throttles is retried, and the retry
// shows the order the first run made: one order, one Crypto Pay invoice, the
// same link (the plan's order on offer). A Stars press likewise makes one order, whose invoice the retry
// sends again and which can be paid once.
func TestRetriedPayPressOrdersOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout, updates.WithCallbackMaxAge(callbackMaxAge))
	const user = 16001
	menu := e.started(user)
	throttleNextEdit := func() {
		e.sb.Inject(sandboxtg.Fault{Method: "editMessageText", ChatID: user, Status: http.StatusTooManyRequests, RetryAfter: 1, Times: 1})
	}
	orders := func(provider string) int {
		return e.count(`SELECT count(*) FROM invoices WHERE user_id = $1 AND provider = $2`, user, provider)
	}

	throttleNextEdit()
	e.press(user, menu.ID, "pay:cp:m1")
	m := e.screen(user, menu.ID, "for $4.99")
	e.settle()
	require.Equal(t, 1, e.sb.Stats().TooManyRequests)
	require.Equal(t, 1, orders("cryptopay"))
	invoices := e.cp.Invoices()
	require.Len(t, invoices, 1, "one Crypto Pay invoice")
	require.Equal(t, invoices[0].BotInvoiceURL, m.Buttons[0][0].URL)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM invoices WHERE external_id = $1 AND pay_url = $2`,
		strconv.FormatInt(invoices[0].InvoiceID, 10), invoices[0].BotInvoiceURL))

	// A first run that made the order and whose call to Crypto Pay failed:
	// the retry makes that order's invoice.
	_, err := shop.New(e.db.Pool, shop.Config{}).CryptoPayOrder(e.ctx(5*time.Second), user, "m3",
		func(context.Context, shop.Invoice, time.Duration) (string, string, error) {
			return "", "", errors.New("crypto pay: 502")
		})
	require.ErrorIs(t, err, shop.ErrExternal)
	var crashed shop.Invoice
	require.NoError(t, e.db.Pool.QueryRow(e.ctx(5*time.Second),
		`SELECT id FROM invoices WHERE user_id = $1 AND plan_id = 'm3'`, user).Scan(&crashed.ID))
	e.pressUnknown(user, menu.ID, "crashed-1", "pay:cp:m3")
	e.forward()
	m = e.screen(user, menu.ID, "for $12.99")
	e.settle()
	require.Equal(t, 2, orders("cryptopay"))
	invoices = e.cp.Invoices()
	require.Len(t, invoices, 2)
	require.Equal(t, "order:"+strconv.FormatInt(crashed.ID, 10), invoices[1].Payload)
	require.Equal(t, invoices[1].BotInvoiceURL, m.Buttons[0][0].URL)

	// Stars: the invoice is sent, the screen's edit throttled, the retry
	// sends the same order's invoice again.
	throttleNextEdit()
	e.press(user, menu.ID, "pay:st:m1")
	e.screen(user, menu.ID, "pay it with Telegram Stars")
	e.settle()
	require.Equal(t, 2, e.sb.Stats().TooManyRequests)
	require.Equal(t, 1, orders("stars"))
	var sent []sandboxtg.Message
	for _, m := range e.sb.Messages(user) {
		if m.Invoice != nil {
			sent = append(sent, m)
		}
	}
	require.Len(t, sent, 2, "the invoice, and again by the retry")
	require.Equal(t, sent[0].Invoice.Payload, sent[1].Invoice.Payload, "of one order")

	require.True(t, e.pay(user, sent[0].ID, nil).Accepted)
	e.forward()
	e.waitMessage(user, func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, "Payment received") }, "the payment confirmed")
	second := e.pay(user, sent[1].ID, nil)
	require.False(t, second.Accepted, "the order is paid once")
	require.Contains(t, second.ErrorMessage, "no longer valid")
	e.settle()
	require.Equal(t, 1, e.count(`SELECT count(*) FROM invoices WHERE user_id = $1 AND status = 'paid'`, user))
	require.Empty(t, e.dlq())
}

// A Stars payment whose "Payment received" Telegram throttles is retried:
// the retry finds the payment applied, and confirms it all the same.
func TestStarsPaymentWithThrottledConfirmationIsConfirmedOnRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const user = 17001
	menu := e.started(user)
	e.press(user, menu.ID, "pay:st:m1")
	inv := e.waitMessage(user, func(m sandboxtg.Message) bool { return m.Invoice != nil }, "a Stars invoice")

	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: user, Status: http.StatusTooManyRequests, RetryAfter: 1, Times: 1})
	require.True(t, e.pay(user, inv.ID, nil).Accepted)
	e.forward()
	e.waitMessage(user, func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, "Payment received") }, "the payment confirmed")
	e.settle()
	require.Equal(t, 1, e.sb.Stats().TooManyRequests)
	var received int
	for _, m := range e.sb.Messages(user) {
		if strings.Contains(m.Plain, "Payment received") {
			received++
		}
	}
	require.Equal(t, 1, received)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM invoices WHERE status = 'paid'`))
	require.WithinDuration(t, time.Now().Add(30*24*time.Hour), e.expiry(user), time.Minute, "applied once")
	require.Len(t, e.logs.Lines("PAYMENT_APPLIED"), 1)
	require.Equal(t, 1, e.activationRequests(), "the retry's request has the first one's id")
	require.Empty(t, e.dlq())
}

// payLink is the link of the pay button on message msg of user's chat.
func (e *env) payLink(user, msg int64) string {
	e.t.Helper()
	for _, m := range e.sb.Messages(user) {
		if m.ID == msg {
			return m.ButtonURL()
		}
	}
	e.t.Fatalf("chat %d has no message %d", user, msg)
	return ""
}

// TestCryptoPayPressesShowTheOneOrderOnOffer presses a plan's Crypto Pay
// button on two menus, and the two presses are handled at once by two
// replicas while the first is delivered again to one of them, Crypto Pay
// taking a moment to answer: one order, one invoice at Crypto Pay, and the
// same link on both menus. A press later shows that link again; once the
// order expired, a press makes a new one, with a new link.
func TestCryptoPayPressesShowTheOneOrderOnOffer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	a := e.start(e.db.Pool, handlerTimeout)
	b := e.start(e.db.Pool, handlerTimeout)
	const user = 17001
	first := e.started(user)
	e.say(user, "/start")
	e.forward()
	second := e.waitReplies(user, 2, answerWithin)[1]

	e.cp.Inject(sandboxcp.Fault{Method: "createInvoice", Latency: 300 * time.Millisecond})
	e.sb.PressButton(user, first.ID, "pay:cp:m1")
	e.sb.PressButton(user, second.ID, "pay:cp:m1")
	raws := e.pull()
	require.Len(t, raws, 2)
	deliveries := []struct {
		inst  *instance
		raw   []byte
		times uint64
	}{{a, raws[0], 1}, {b, raws[1], 1}, {b, raws[0], 2}} // the last: the first press delivered again
	var wg sync.WaitGroup
	errs := make([]error, len(deliveries))
	for i, d := range deliveries {
		wg.Go(func() {
			errs[i] = d.inst.handler.Handle(e.ctx(handlerTimeout), bus.Delivery{Data: d.raw, NumDelivered: d.times})
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "delivery %d", i)
	}
	e.cp.ClearFaults()

	invoices := e.cp.Invoices()
	require.Len(t, invoices, 1, "one invoice at Crypto Pay")
	link := invoices[0].BotInvoiceURL
	require.Equal(t, link, e.payLink(user, first.ID))
	require.Equal(t, link, e.payLink(user, second.ID), "both menus show the one link")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM invoices WHERE user_id = $1`, user), "one order")

	// Pressed again later: the same link.
	e.press(user, second.ID, "plan:m1")
	e.press(user, second.ID, "pay:cp:m1")
	e.settle()
	require.Equal(t, link, e.payLink(user, second.ID))
	require.Len(t, e.cp.Invoices(), 1)

	// Its time over (the payment-watcher finds it expired at Crypto Pay):
	// a new order, with a new link.
	_, err := e.cp.Expire(invoices[0].InvoiceID)
	require.NoError(t, err)
	e.exec(`UPDATE invoices SET status = 'expired', expires_at = now() WHERE user_id = $1`, user)
	e.press(user, second.ID, "plan:m1")
	e.press(user, second.ID, "pay:cp:m1")
	e.settle()
	require.Len(t, e.cp.Invoices(), 2)
	renewed := e.payLink(user, second.ID)
	require.NotEqual(t, link, renewed, "an expired order is never shown again")
	require.Equal(t, e.cp.Invoices()[1].BotInvoiceURL, renewed)
	require.Equal(t, 2, e.count(`SELECT count(*) FROM invoices WHERE user_id = $1`, user))
	require.Empty(t, e.dlq())
}

// TestAPressWhileCryptoPayIsDownSaysSoAndTheNextShowsTheOrder: Crypto Pay
// failing to make the invoice leaves the order without one, and the user
// is told to try again; the next press makes that order's invoice.
func TestAPressWhileCryptoPayIsDownSaysSoAndTheNextShowsTheOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const user = 18001
	menu := e.started(user)

	e.cp.Inject(sandboxcp.Fault{Method: "createInvoice", Status: http.StatusBadGateway, Times: 1})
	e.press(user, menu.ID, "pay:cp:m1")
	e.screen(user, menu.ID, "Payments are down for a moment")
	require.Len(t, e.logs.Events(t, bot.EventCryptoPayDown), 1)
	require.Empty(t, e.cp.Invoices())

	e.press(user, menu.ID, "plan:m1")
	e.press(user, menu.ID, "pay:cp:m1")
	m := e.screen(user, menu.ID, "for $4.99")
	invoices := e.cp.Invoices()
	require.Len(t, invoices, 1)
	require.Equal(t, invoices[0].BotInvoiceURL, m.ButtonURL())
	require.Equal(t, 1, e.count(`SELECT count(*) FROM invoices WHERE user_id = $1`, user), "the order of the first press")
	require.Empty(t, e.dlq())
}
