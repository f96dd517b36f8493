package updates_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// starsInvoice presses the plan's Stars button and returns the invoice
// message it sent.
func (e *env) starsInvoice(user, menu int64, plan string, total int64) sandboxtg.Message {
	e.t.Helper()
	e.press(user, menu, "pay:st:"+plan)
	return e.waitMessage(user, func(m sandboxtg.Message) bool { return m.Invoice != nil && m.Invoice.Total == total },
		"a Stars invoice of "+plan)
}

func TestAStarsPaymentThatBuysNothingIsRefundedAutomatically(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const user = 19001
	menu := e.started(user)
	inv := e.starsInvoice(user, menu.ID, "m1", 250)

	// The successful_payment names an order that is not the user's (as
	// would a second charge of a paid order): it applies to nothing.
	forged := regexp.MustCompile(`"invoice_payload":"order:\d+"`)
	toNowhere := func(raw json.RawMessage) json.RawMessage {
		if !strings.Contains(string(raw), "successful_payment") {
			return raw
		}
		return json.RawMessage(forged.ReplaceAllString(string(raw), `"invoice_payload":"order:999999"`))
	}
	paid := e.pay(user, inv.ID, toNowhere)
	require.True(t, paid.Accepted)
	e.forwardWith(toNowhere)
	e.waitMessage(user, func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, "refunded to you automatically") },
		"the user told of the refund")
	e.settle()
	require.True(t, e.sb.Refunded(paid.ChargeID), "the Stars went back")
	require.Equal(t, 0, e.count(`SELECT count(*) FROM ledger`), "nothing was bought")
	require.Len(t, e.logs.Lines("PAYMENT_AUTO_REFUNDED"), 1)

	// Telegram delivers it again: refunded already, the user is told again
	// at most, and nothing is applied.
	_, err := e.sb.ResendSuccessfulPayment(user, paid.ChargeID)
	require.NoError(t, err)
	e.forwardWith(toNowhere)
	e.settle()
	require.Equal(t, 0, e.count(`SELECT count(*) FROM ledger`))
	require.Empty(t, e.dlq())
}

func TestAnAdminRefundsAStarsPaymentOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const user = 19101
	menu := e.started(user)
	e.started(e.admin)
	inv := e.starsInvoice(user, menu.ID, "m1", 250)
	paid := e.pay(user, inv.ID, nil)
	require.True(t, paid.Accepted)
	e.forward()
	e.waitMessage(user, func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, "Payment received") }, "the payment confirmed")
	e.settle()
	before := e.expiry(user)
	var invoiceID int64
	require.NoError(t, e.db.Pool.QueryRow(e.ctx(5*time.Second), `SELECT id FROM invoices WHERE charge_id = $1`, paid.ChargeID).Scan(&invoiceID))

	e.say(user, fmt.Sprintf("/refund %d", invoiceID))
	for range 2 {
		e.say(e.admin, fmt.Sprintf("/refund %d", invoiceID))
	}
	e.say(e.admin, "/refund 424242")
	e.say(e.admin, "/refund")
	e.forward()
	replies := e.waitReplies(e.admin, 5, answerWithin)
	require.Contains(t, replies[1].Plain, fmt.Sprintf("Invoice %d refunded: 250 ⭐ to user %d; 30 days of access taken back", invoiceID, user))
	require.Contains(t, replies[2].Plain, fmt.Sprintf("Invoice %d refunded", invoiceID), "asked again: the same refund")
	require.Contains(t, replies[3].Plain, "No invoice 424242")
	require.Contains(t, replies[4].Plain, "Usage: /refund")
	e.settle()
	require.True(t, e.sb.Refunded(paid.ChargeID))
	require.WithinDuration(t, before.Add(-30*24*time.Hour), e.expiry(user), 5*time.Second, "the month is taken back once")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM ledger WHERE kind = 'refund'`))
	require.Len(t, e.logs.Lines("PAYMENT_REFUNDED"), 2)

	var notices []string
	for _, q := range e.outboxCommands() {
		if q.cmd.ChatId == user {
			notices = append(notices, q.msgID)
			require.Contains(t, q.cmd.Text, "Your payment of 250 ⭐ was refunded, and the 30 days")
		}
	}
	require.Equal(t, []string{fmt.Sprintf("refund:%d", invoiceID)}, notices, "the user is told once")
	e.waitMessage(user, func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, "I only understand commands") },
		"/refund is for admins")
	require.Empty(t, e.dlq())
}

func TestPaySupportAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const user = 19201
	e.started(user)
	e.say(user, "/paysupport")
	e.forward()
	require.Contains(t, e.waitReplies(user, 2, answerWithin)[1].Plain, "Payment support")
}
