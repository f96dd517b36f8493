package updates_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// TestIPaidAsksThePaymentWatcherAndSaysWhatItFound: "I paid" under a
// Crypto Pay order asks a payment-watcher (here a stand-in answering on
// its subject) to check the order, and says what it found; with no watcher
// answering, the user is told the order is checked automatically.
func TestIPaidAsksThePaymentWatcherAndSaysWhatItFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const user = 19301
	menu := e.started(user)
	e.press(user, menu.ID, "pay:cp:m1")
	m := e.screen(user, menu.ID, "for $4.99")
	var orderID int64
	require.NoError(t, e.db.Pool.QueryRow(e.ctx(5*time.Second), `SELECT id FROM invoices WHERE user_id = $1`, user).Scan(&orderID))
	paid := fmt.Sprintf("paid:%d", orderID)
	require.Equal(t, paid, m.Buttons[1][0].Data, "the order's screen has I paid")

	// No watcher up: the check cannot be made, and the user is told so.
	e.press(user, menu.ID, paid)
	e.screen(user, menu.ID, "could not be checked right now")

	nc, _ := bustest.Connect(t, e.natsURL)
	var mu sync.Mutex
	answer := events.CheckPending
	var asked []int64
	sub, err := nc.Subscribe(events.SubjectPaymentCheck, func(msg *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		id, _ := strconv.ParseInt(string(msg.Data), 10, 64)
		asked = append(asked, id)
		data, _ := json.Marshal(events.PaymentCheckReply{Status: answer})
		_ = msg.Respond(data)
	})
	askedNow := func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(asked)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())

	e.press(user, menu.ID, paid)
	pending := e.screen(user, menu.ID, "has not received this payment yet")
	require.Equal(t, m.Buttons[0][0].URL, pending.Buttons[0][0].URL, "the pay link again")
	require.Equal(t, []int64{orderID}, askedNow())

	// The watcher finds it paid (and applies it, as its own test shows).
	mu.Lock()
	answer = events.CheckPaid
	mu.Unlock()
	e.press(user, menu.ID, paid)
	e.screen(user, menu.ID, "Your payment arrived")

	// Once the order is settled, the database answers, not the watcher.
	e.exec(`UPDATE invoices SET status = 'expired' WHERE id = $1`, orderID)
	e.press(user, menu.ID, paid)
	e.screen(user, menu.ID, "expired unpaid")
	require.Len(t, askedNow(), 2)

	// Someone else's order is not theirs to check.
	const other = 19302
	otherMenu := e.started(other)
	e.press(other, otherMenu.ID, paid)
	e.screen(other, otherMenu.ID, "What would you like to do?")
	require.Len(t, askedNow(), 2)
	require.Equal(t, shop.InvoiceExpired, e.invoiceStatus(orderID))
	require.Empty(t, e.dlq())
	require.False(t, strings.Contains(e.logs.String(), `"level":"error"`))
}

// invoiceStatus is the order's status.
func (e *env) invoiceStatus(id int64) string {
	e.t.Helper()
	var s string
	require.NoError(e.t, e.db.Pool.QueryRow(e.ctx(5*time.Second), `SELECT status FROM invoices WHERE id = $1`, id).Scan(&s))
	return s
}
