package watcher_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// check asks the watchers to check the order, as the bot-handler's "I
// paid" does.
func (e *env) check(t *testing.T, nc *nats.Conn, invoiceID int64) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return events.CheckPayment(ctx, nc, invoiceID)
}

func TestIPaidChecksTheOrderNowAndAppliesItOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false) // no webhooks, no poll: only the check can find the payment
	for range 3 {
		e.startReplica(t, replicaOpts{checks: true})
	}
	nc, _ := bustest.Connect(t, e.natsURL)

	pending, _ := e.order(t)
	status, err := e.check(t, nc, pending.ID)
	require.NoError(t, err)
	require.Equal(t, events.CheckPending, status, "not paid at Crypto Pay")

	for round := range 3 {
		inv, external := e.order(t)
		_, err := e.sandbox.MarkPaidUnannounced(external)
		require.NoError(t, err)
		// The user presses "I paid" again and again, on every replica.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				status, err := e.check(t, nc, inv.ID)
				if assert.NoError(t, err) {
					assert.Equal(t, events.CheckPaid, status, "round %d", round)
				}
			})
		}
		wg.Wait()
		require.Equal(t, shop.InvoicePaid, e.status(t, inv.ID))
		var rows int
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM ledger WHERE invoice_id = $1`, inv.ID).Scan(&rows))
		require.Equal(t, 1, rows, "applied once")
		announced, err := e.shop.UnannouncedPayments(context.Background(), shop.ProviderCryptoPay, 10)
		require.NoError(t, err)
		require.Empty(t, announced, "announced before the answer")
	}
	require.Len(t, e.subjectMsgs(t, outbox.Stream, "outbox.>"), 3, "one receipt per payment")

	expired, external := e.order(t)
	_, err = e.sandbox.Expire(external)
	require.NoError(t, err)
	status, err = e.check(t, nc, expired.ID)
	require.NoError(t, err)
	require.Equal(t, events.CheckExpired, status)
	require.Equal(t, shop.InvoiceExpired, e.status(t, expired.ID))

	_, err = e.check(t, nc, 424242)
	require.ErrorIs(t, err, events.ErrCheckFailed, "no such order")
}

func TestIPaidWithNoWatcherUpSaysSo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	nc, _ := bustest.Connect(t, e.natsURL)
	inv, _ := e.order(t)
	_, err := e.check(t, nc, inv.ID)
	require.ErrorIs(t, err, nats.ErrNoResponders)
}
