package watcher_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/payment-watcher/internal/watcher"
)

const month = 30 * 24 * time.Hour

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// requireAnnouncedOnce checks that the user of inv got one payment message,
// in Russian (their language), and that one activation was requested for
// the period the payment extended.
func requireAnnouncedOnce(t *testing.T, e *env, inv shop.Invoice) {
	t.Helper()
	var msgs []*vpnbotv1.SendMessage
	require.Eventually(t, func() bool {
		raw := e.subjectMsgs(t, outbox.Stream, "outbox.>")
		msgs = msgs[:0]
		for _, m := range raw {
			sm, err := outbox.Decode(m.Data)
			require.NoError(t, err)
			if sm.GetChatId() == inv.UserID {
				msgs = append(msgs, sm)
			}
		}
		return len(msgs) >= 1
	}, 10*time.Second, 20*time.Millisecond, "no payment message for user %d", inv.UserID)
	require.Len(t, msgs, 1, "one payment message")
	require.Equal(t, "payment:"+itoa(inv.ID), msgs[0].GetDedupId())
	require.Contains(t, msgs[0].GetText(), "Оплата", "in the user's language")

	// The activation request is published after the message.
	var acts []*vpnbotv1.ActivationRequested
	require.Eventually(t, func() bool {
		acts = acts[:0]
		for _, m := range e.subjectMsgs(t, events.Stream, events.SubjectActivationRequested) {
			a := &vpnbotv1.ActivationRequested{}
			require.NoError(t, proto.Unmarshal(m.Data, a))
			if a.GetUserId() == inv.UserID {
				acts = append(acts, a)
			}
		}
		return len(acts) >= 1
	}, 10*time.Second, 20*time.Millisecond, "no activation request for user %d", inv.UserID)
	require.Len(t, acts, 1, "one activation request")
	paid, err := e.shop.Invoice(context.Background(), inv.ID)
	require.NoError(t, err)
	require.Equal(t, paid.SubscriptionID, acts[0].GetSubscriptionId())
	require.Equal(t, "payment", acts[0].GetReason())
	require.True(t, paid.PaidAt.Equal(acts[0].GetRequestedAt().AsTime()), "requested_at is the invoice's paid_at")
}

// requireExtendedOnce checks the user's period runs one month from when the
// invoice was paid: extended once, not twice.
func requireExtendedOnce(t *testing.T, e *env, inv shop.Invoice) {
	t.Helper()
	paid, err := e.shop.Invoice(context.Background(), inv.ID)
	require.NoError(t, err)
	require.Equal(t, shop.InvoicePaid, paid.Status)
	sub, err := e.shop.ActiveSubscription(context.Background(), inv.UserID)
	require.NoError(t, err)
	require.NotNil(t, sub)
	require.Equal(t, paid.PaidAt.Add(month), sub.ExpiresAt, "one month from the payment, once")
}

func TestWebhookEventAppliesThePaymentOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	r := e.startReplica(t, replicaOpts{})
	inv, remoteID := e.order(t)

	_, err := e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)
	e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
	requireExtendedOnce(t, e, inv)
	requireAnnouncedOnce(t, e, inv)

	// Crypto Pay delivering it again is stored once (same update id); the
	// same update again past the duplicate window (a new message id) is
	// handled, and changes nothing.
	require.NoError(t, e.sandbox.Resend(remoteID))
	require.Eventually(t, func() bool { return e.sandbox.Stats().Deliveries == 2 }, 10*time.Second, 20*time.Millisecond)
	stored := e.subjectMsgs(t, events.Stream, events.SubjectCryptoPayPayments)
	require.Len(t, stored, 1)
	_, err = bus.Publish(context.Background(), e.js, events.SubjectCryptoPayPayments, stored[0].Data, "")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return r.metric(t, "vpnbot_consumer_messages_total", map[string]string{"stream": "EVENTS", "consumer": "payment-watcher", "outcome": "ok"}) == 2
	}, 10*time.Second, 20*time.Millisecond)
	requireExtendedOnce(t, e, inv)
	requireAnnouncedOnce(t, e, inv)
	require.Equal(t, 1.0, r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": "webhook", "outcome": "applied"}))
	require.Len(t, e.logs.Lines(`"event":"PAYMENT_APPLIED"`), 1)
}

func TestWebhookForAnUnknownInvoiceIsAcknowledged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	r := e.startReplica(t, replicaOpts{})
	// An invoice made at Crypto Pay by someone else (another app sharing
	// the token, a manual one): no order of ours is attached to it.
	remote, err := e.cp.CreateInvoice(context.Background(), cryptopay.CreateInvoice{AmountUSD: "1"})
	require.NoError(t, err)
	_, err = e.sandbox.MarkPaid(remote.InvoiceID)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		return r.metric(t, "vpnbot_consumer_messages_total", map[string]string{"stream": "EVENTS", "consumer": "payment-watcher", "outcome": "ok"}) == 1
	}, 10*time.Second, 20*time.Millisecond, "the event is acknowledged, not retried")
	unknown := e.logs.Lines(`"event":"PAYMENT_UNKNOWN_INVOICE"`)
	require.Len(t, unknown, 1)
	require.Contains(t, unknown[0], fmt.Sprintf(`"external_id":%d`, remote.InvoiceID))
	require.Contains(t, unknown[0], `"reason":"no_order"`)
	require.Equal(t, 1.0, r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": "webhook", "outcome": "unknown_invoice"}))
	require.Empty(t, e.subjectMsgs(t, outbox.Stream, "outbox.>"), "nobody is told anything")
	require.Zero(t, r.metric(t, "vpnbot_consumer_messages_total", map[string]string{"stream": "EVENTS", "consumer": "payment-watcher", "outcome": "retry"}))
}

// TestPaymentOfAnotherInvoiceUnderAnOrdersIDIsUnknown is a Crypto Pay
// invoice reported paid under the id attached to one of our orders, whose
// payload names another order: what a sandbox Crypto Pay started afresh
// does when it hands out an old id again. Nothing is applied, by webhook or
// by poll, and the report is logged PAYMENT_UNKNOWN_INVOICE and counted.
func TestPaymentOfAnotherInvoiceUnderAnOrdersIDIsUnknown(t *testing.T) {
	t.Parallel()
	for _, source := range []string{"webhook", "poll"} {
		t.Run(source, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, source == "webhook")
			r := e.startReplica(t, replicaOpts{poll: source == "poll"})
			inv, remoteID := e.orderWithPayload(t, func(id int64) string { return shop.StarsPayload(id + 1_000_000) })
			_, err := e.sandbox.MarkPaid(remoteID)
			require.NoError(t, err)

			require.Eventually(t, func() bool {
				return r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": source, "outcome": "unknown_invoice"}) >= 1
			}, 10*time.Second, 20*time.Millisecond, "the payment was not counted as unknown")
			unknown := e.logs.Lines(`"event":"PAYMENT_UNKNOWN_INVOICE"`)
			require.NotEmpty(t, unknown)
			require.Contains(t, unknown[0], fmt.Sprintf(`"external_id":%d`, remoteID))
			require.Contains(t, unknown[0], `"reason":"other_order"`)
			require.Contains(t, unknown[0], fmt.Sprintf(`"invoice_id":%d`, inv.ID))
			require.Equal(t, shop.InvoicePending, e.status(t, inv.ID), "another invoice's payment paid the order")
			require.Empty(t, e.subjectMsgs(t, outbox.Stream, "outbox.>"), "the user was told of a payment")
			require.Zero(t, r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": source, "outcome": "applied"}))
		})
	}
}

// extraInvoice is a Crypto Pay that answers getInvoices with one more paid
// invoice than it was asked about.
type extraInvoice struct {
	watcher.Invoices
	extra cryptopay.Invoice
}

func (x extraInvoice) GetInvoices(ctx context.Context, ids []int64) ([]cryptopay.Invoice, error) {
	got, err := x.Invoices.GetInvoices(ctx, ids)
	return append(got, x.extra), err
}

// TestPolledPaymentOfNoOrderIsUnknown is a poll answered with a paid
// invoice no order of ours has: logged PAYMENT_UNKNOWN_INVOICE and counted,
// and the orders asked about are handled as usual.
func TestPolledPaymentOfNoOrderIsUnknown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	stray := cryptopay.Invoice{InvoiceID: 987654, Status: cryptopay.StatusPaid, Payload: "order:1", Amount: "9.99"}
	r := e.startReplica(t, replicaOpts{poll: true, answers: func(i watcher.Invoices) watcher.Invoices {
		return extraInvoice{Invoices: i, extra: stray}
	}})
	inv, remoteID := e.order(t)
	_, err := e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)

	e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
	require.Eventually(t, func() bool {
		return r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": "poll", "outcome": "unknown_invoice"}) >= 1
	}, 10*time.Second, 20*time.Millisecond)
	unknown := e.logs.Lines(`"event":"PAYMENT_UNKNOWN_INVOICE"`)
	require.NotEmpty(t, unknown)
	require.Contains(t, unknown[0], `"external_id":987654`)
	require.Contains(t, unknown[0], `"reason":"no_order"`)
}

func TestWebhookAndPollingOnThreeReplicasApplyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	var rs []*replica
	for range 3 {
		rs = append(rs, e.startReplica(t, replicaOpts{poll: true, interval: 50 * time.Millisecond}))
	}
	inv, remoteID := e.order(t)

	_, err := e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { _ = e.sandbox.Resend(remoteID) })
	}
	wg.Wait()
	e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
	require.Eventually(t, func() bool { return e.sandbox.Stats().Pending == 0 }, 10*time.Second, 20*time.Millisecond)

	requireExtendedOnce(t, e, inv)
	requireAnnouncedOnce(t, e, inv)
	applied := func() float64 {
		total := 0.0
		for _, r := range rs {
			total += r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": "webhook", "outcome": "applied"})
			total += r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": "poll", "outcome": "applied"})
		}
		return total
	}
	// The leader's poll may announce the payment a webhook handler applied
	// before that handler has counted it.
	require.Eventually(t, func() bool { return applied() > 0 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 1.0, applied(), "applied once across webhook, poller and replicas")
}

func TestPollingAloneAppliesAPaidInvoice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.startReplica(t, replicaOpts{poll: true})
	inv, remoteID := e.order(t)

	_, err := e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)
	e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
	requireExtendedOnce(t, e, inv)
	requireAnnouncedOnce(t, e, inv)
	require.Equal(t, 1.0, r.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": "poll", "outcome": "applied"}))
	ev := e.logs.Events(t, "PAYMENT_APPLIED")
	require.Len(t, ev, 1)
	require.Equal(t, "poll", ev[0]["source"])
}

func TestInvoicesThatCannotBePaidAreExpired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	atProvider, remoteID := e.order(t)
	// An order whose Crypto Pay invoice was never made.
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `INSERT INTO users (id, chat_id) VALUES (1, 1)`)
	require.NoError(t, err)
	never, err := e.shop.CreateOrder(ctx, 1, "m1", shop.ProviderCryptoPay)
	require.NoError(t, err)
	fresh, _ := e.order(t)

	_, err = e.sandbox.Expire(remoteID)
	require.NoError(t, err)
	// The watcher's clock is past the orders' TTL (an hour).
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	e.startReplica(t, replicaOpts{poll: true, now: later})

	e.waitStatus(t, atProvider.ID, shop.InvoiceExpired, 10*time.Second)
	e.waitStatus(t, never.ID, shop.InvoiceExpired, 10*time.Second)
	require.Equal(t, shop.InvoicePending, e.status(t, fresh.ID), "still payable at Crypto Pay: kept")
	reasons := map[any]bool{}
	for _, ev := range e.logs.Events(t, "INVOICE_EXPIRED") {
		reasons[ev["reason"]] = true
	}
	require.Equal(t, map[any]bool{"expired_at_provider": true, "never_created": true}, reasons)
}

func TestOnlyTheLeaderPolls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.order(t) // pending, so every poll asks getInvoices
	interval := 150 * time.Millisecond
	var rs []*replica
	for range 3 {
		rs = append(rs, e.startReplica(t, replicaOpts{poll: true, interval: interval}))
	}
	getInvoices := func() []sandboxcp.Request {
		var out []sandboxcp.Request
		for _, r := range e.sandbox.Requests() {
			if r.Method == "getInvoices" {
				out = append(out, r)
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(getInvoices()) >= 8 }, 15*time.Second, 20*time.Millisecond)

	polling := 0
	for _, r := range rs {
		if r.metric(t, "vpnbot_cryptopay_requests_total", map[string]string{"method": "getInvoices"}) > 0 {
			polling++
		}
	}
	require.Equal(t, 1, polling, "one replica calls getInvoices, the others stand by")
	calls := getInvoices()
	for i := 1; i < len(calls); i++ {
		require.GreaterOrEqual(t, calls[i].At.Sub(calls[i-1].At), interval/3, "one poll per interval, not three")
	}
}

func TestStandbyAppliesWhenTheLeaderDies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a := e.startReplica(t, replicaOpts{poll: true})
	b := e.startReplica(t, replicaOpts{poll: true})
	var leader, standby *replica
	require.Eventually(t, func() bool {
		switch {
		case a.elector.IsLeader():
			leader, standby = a, b
		case b.elector.IsLeader():
			leader, standby = b, a
		}
		return leader != nil
	}, 10*time.Second, 20*time.Millisecond)

	leader.stop()
	inv, remoteID := e.order(t)
	_, err := e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)
	e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
	require.True(t, standby.elector.IsLeader())
	// Announced after it was counted, by the same poll.
	requireAnnouncedOnce(t, e, inv)
	require.Equal(t, 1.0, standby.metric(t, "vpnbot_payment_watcher_payments_total", map[string]string{"source": "poll", "outcome": "applied"}))
}

func TestCryptoPayOutageLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.sandbox.Inject(sandboxcp.Fault{Method: "getInvoices", Status: 503})
	e.startReplica(t, replicaOpts{poll: true})
	inv, remoteID := e.order(t)
	_, err := e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)

	require.Eventually(t, func() bool { return len(e.logs.Lines(`"outcome":"error"`)) >= 2 }, 10*time.Second, 20*time.Millisecond,
		"polls fail while Crypto Pay is down")
	require.Equal(t, shop.InvoicePending, e.status(t, inv.ID))

	e.sandbox.ClearFaults()
	e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
	requireExtendedOnce(t, e, inv)
	requireAnnouncedOnce(t, e, inv)
}
