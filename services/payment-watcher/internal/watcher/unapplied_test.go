package watcher_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// TestPaidButUnappliedInvoicesAreGauged: while the database refuses to apply
// a payment Crypto Pay reports, vpnbot_payment_watcher_paid_unapplied counts
// it (on-call's "money taken, nothing given"); once it is applied the gauge
// returns to 0.
func TestPaidButUnappliedInvoicesAreGauged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ctx := context.Background()
	// The test's own schema: marking any invoice paid fails until the
	// trigger is dropped.
	_, err := e.pool.Exec(ctx, `
		CREATE FUNCTION refuse_invoice_update() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'no payment is applied in this test'; END $$;
		CREATE TRIGGER refuse_invoice_update BEFORE UPDATE ON invoices
		FOR EACH ROW WHEN (NEW.status = 'paid') EXECUTE FUNCTION refuse_invoice_update();`)
	require.NoError(t, err)
	r := e.startReplica(t, replicaOpts{poll: true})
	unapplied := func() float64 { return r.metric(t, "vpnbot_payment_watcher_paid_unapplied", nil) }
	inv, remoteID := e.order(t)
	require.Zero(t, unapplied())

	_, err = e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return unapplied() == 1 }, 10*time.Second, 20*time.Millisecond,
		"the paid invoice the poller cannot apply is counted")
	require.Equal(t, shop.InvoicePending, e.status(t, inv.ID))

	_, err = e.pool.Exec(ctx, `DROP TRIGGER refuse_invoice_update ON invoices`)
	require.NoError(t, err)
	e.waitStatus(t, inv.ID, shop.InvoicePaid, 10*time.Second)
	require.Eventually(t, func() bool { return unapplied() == 0 }, 10*time.Second, 20*time.Millisecond,
		"an applied invoice is no longer counted")
}

// TestThePaidUnappliedGaugeClearsWhenNothingIsLeftPending: a payment the
// poller cannot apply is applied by another path (a webhook handler),
// leaving no pending invoice to ask Crypto Pay about. The gauge must return
// to 0 rather than keep the last poll's count and page on-call forever.
func TestThePaidUnappliedGaugeClearsWhenNothingIsLeftPending(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ctx := context.Background()
	// Only sessions named "webhook" may mark an invoice paid.
	_, err := e.pool.Exec(ctx, `
		CREATE FUNCTION refuse_invoice_update() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'only the webhook applies payments in this test'; END $$;
		CREATE TRIGGER refuse_invoice_update BEFORE UPDATE ON invoices
		FOR EACH ROW WHEN (OLD.status <> 'paid' AND NEW.status = 'paid'
			AND current_setting('application_name') <> 'webhook') EXECUTE FUNCTION refuse_invoice_update();`)
	require.NoError(t, err)
	cfg, err := pgxpool.ParseConfig(e.db.DSN)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["application_name"] = "webhook"
	webhookPool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(webhookPool.Close)

	r := e.startReplica(t, replicaOpts{poll: true})
	unapplied := func() float64 { return r.metric(t, "vpnbot_payment_watcher_paid_unapplied", nil) }
	inv, remoteID := e.order(t)
	_, err = e.sandbox.MarkPaid(remoteID)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return unapplied() == 1 }, 10*time.Second, 20*time.Millisecond)

	_, applied, err := shop.New(webhookPool, shop.Config{}).ApplyPayment(ctx, inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)
	require.Eventually(t, func() bool { return unapplied() == 0 }, 10*time.Second, 20*time.Millisecond,
		"nothing is left unapplied or unannounced")
	requireAnnouncedOnce(t, e, inv)
}
