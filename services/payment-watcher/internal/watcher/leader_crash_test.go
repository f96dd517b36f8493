package watcher_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// TestStandbyAppliesWhenTheLeaderConnectionIsKilled kills the leader's
// election connection on the server side (pg_terminate_backend), as a
// crashed host or a network cut looks to PostgreSQL, while the leader's poll
// hangs on Crypto Pay with paid invoices pending. The lock goes with the
// session: the standby must lead within seconds, the old leader must stop
// once it notices, and the standby must apply each payment exactly once.
func TestStandbyAppliesWhenTheLeaderConnectionIsKilled(t *testing.T) {
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
	acquired := e.logs.Events(t, obs.EventLeaderAcquired)
	require.Len(t, acquired, 1, "one leadership so far")
	backend := acquired[0]["backend_pid"].(float64)

	// The leader's next poll hangs with the payments pending.
	e.sandbox.Inject(sandboxcp.Fault{Method: "getInvoices", Hang: true})
	var orders []shop.Invoice
	for range 3 {
		inv, remoteID := e.order(t)
		_, err := e.sandbox.MarkPaid(remoteID)
		require.NoError(t, err)
		orders = append(orders, inv)
	}
	require.Eventually(t, func() bool { return e.sandbox.Stats().Requests["getInvoices"] > 0 }, 10*time.Second, 10*time.Millisecond,
		"the leader did not poll")

	var terminated bool
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", int64(backend)).Scan(&terminated))
	require.True(t, terminated, "backend %v of the leader's connection", backend)
	killed := time.Now()
	require.Eventually(t, standby.elector.IsLeader, 10*time.Second, 10*time.Millisecond, "the standby did not take over")
	t.Logf("the standby leads %s after the leader's connection was killed", time.Since(killed).Round(time.Millisecond))
	// Within the elector's ping (about 2 s) and the worker's stop grace.
	require.Eventually(t, func() bool { return !leader.elector.IsLeader() }, 10*time.Second, 10*time.Millisecond,
		"the old leader did not notice it lost its connection")
	for _, inv := range orders {
		require.Equal(t, shop.InvoicePending, e.status(t, inv.ID), "applied by the old leader's hung poll")
	}

	e.sandbox.ClearFaults()
	for _, inv := range orders {
		e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
		requireAnnouncedOnce(t, e, inv)
	}
	applied := map[string]string{"source": "poll", "outcome": "applied"}
	require.Equal(t, float64(len(orders)), standby.metric(t, "vpnbot_payment_watcher_payments_total", applied))
	require.Zero(t, leader.metric(t, "vpnbot_payment_watcher_payments_total", applied))
	require.True(t, standby.elector.IsLeader(), "the standby still leads")
}

// TestAPaymentAppliedByAPollerThatDiedBeforeAnnouncingIsAnnounced is the
// poller killed between applying a payment (committed) and announcing it
// (the OUTBOX message and the activation request), with Crypto Pay's webhook
// lost, so that only the poll knows of the payment. The next leader must
// still tell the user, once.
func TestAPaymentAppliedByAPollerThatDiedBeforeAnnouncingIsAnnounced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	inv, remoteID := e.order(t)
	_, err := e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)
	// What the dead poller did before it died.
	_, applied, err := e.shop.ApplyPayment(context.Background(), inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)

	e.startReplica(t, replicaOpts{poll: true})
	requireAnnouncedOnce(t, e, inv)
}
