package watcher_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/payment-watcher/internal/watcher"
)

// withoutOutbox deletes the OUTBOX stream, so that telling a user fails as
// it does while NATS is down, and returns what puts it back.
func withoutOutbox(t *testing.T, e *env) (restore func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.js.DeleteStream(ctx, outbox.Stream))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, bus.DeclareStreams(ctx, e.js, outbox.StreamConfig()))
	}
}

// TestAPaymentThePollCouldNotAnnounceIsAnnouncedByALaterPoll: the poll
// applies a payment while the user cannot be told (the OUTBOX gone, as with
// NATS down). The payment stays counted in paid_unapplied, and once the
// OUTBOX is back a later poll tells the user, once, though the invoice is
// no longer pending.
func TestAPaymentThePollCouldNotAnnounceIsAnnouncedByALaterPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	restore := withoutOutbox(t, e)
	r := e.startReplica(t, replicaOpts{poll: true})
	unapplied := func() float64 { return r.metric(t, "vpnbot_payment_watcher_paid_unapplied", nil) }
	inv, remoteID := e.order(t)
	_, err := e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)

	e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
	require.Eventually(t, func() bool { return unapplied() == 1 }, 10*time.Second, 20*time.Millisecond,
		"applied and not announced is counted")
	require.Eventually(t, func() bool { return len(e.logs.Lines(`announcing the payment of invoice`)) >= 2 }, 10*time.Second,
		20*time.Millisecond, "each poll tries again")
	require.Empty(t, e.logs.Events(t, watcher.EventPaymentAnnouncedLate))

	restore()
	requireAnnouncedOnce(t, e, inv)
	requireExtendedOnce(t, e, inv)
	require.Eventually(t, func() bool { return unapplied() == 0 }, 10*time.Second, 20*time.Millisecond)
	late := e.logs.Events(t, watcher.EventPaymentAnnouncedLate)
	require.Len(t, late, 1)
	require.EqualValues(t, inv.ID, late[0]["invoice_id"])
	require.Equal(t, 1.0, r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": "poll", "outcome": "applied"}))
}

// TestAWebhookEventIsAcknowledgedOnlyOnceAnnounced: a webhook whose payment
// is applied while the user cannot be told is retried, not acknowledged,
// and announces the payment once the OUTBOX is back. No poller runs: the
// event alone must not be lost.
func TestAWebhookEventIsAcknowledgedOnlyOnceAnnounced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	restore := withoutOutbox(t, e)
	r := e.startReplica(t, replicaOpts{})
	inv, remoteID := e.order(t)
	_, err := e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)

	e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
	require.Eventually(t, func() bool {
		return r.metric(t, "vpnbot_consumer_messages_total", map[string]string{"stream": "EVENTS", "consumer": "payment-watcher", "outcome": "retry"}) >= 2
	}, 10*time.Second, 20*time.Millisecond, "the event is retried while the payment cannot be announced")
	require.Zero(t, r.metric(t, "vpnbot_consumer_messages_total", map[string]string{"stream": "EVENTS", "consumer": "payment-watcher", "outcome": "ok"}))

	restore()
	require.Eventually(t, func() bool {
		return r.metric(t, "vpnbot_consumer_messages_total", map[string]string{"stream": "EVENTS", "consumer": "payment-watcher", "outcome": "ok"}) == 1
	}, 10*time.Second, 20*time.Millisecond, "acknowledged once announced")
	requireAnnouncedOnce(t, e, inv)
	requireExtendedOnce(t, e, inv)
	require.Equal(t, 1.0, r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": "webhook", "outcome": "applied"}))
	require.Len(t, e.logs.Events(t, watcher.EventPaymentApplied), 1)
}

// TestAWebhookForAPaymentAppliedButNotAnnouncedAnnouncesIt is the event
// handler killed between applying the payment and announcing it: the
// event's redelivery finds the invoice paid already, and must still tell
// the user, once, without extending the period again.
func TestAWebhookForAPaymentAppliedButNotAnnouncedAnnouncesIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	inv, remoteID := e.order(t)
	// What the dead handler did before it died.
	_, applied, err := e.shop.ApplyPayment(context.Background(), inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)

	r := e.startReplica(t, replicaOpts{})
	_, err = e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)
	requireAnnouncedOnce(t, e, inv)
	requireExtendedOnce(t, e, inv)
	require.Eventually(t, func() bool {
		return r.metric(t, "vpnbot_consumer_messages_total", map[string]string{"stream": "EVENTS", "consumer": "payment-watcher", "outcome": "ok"}) == 1
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 1.0, r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": "webhook", "outcome": "already_applied"}))
}
