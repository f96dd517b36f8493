package schema_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// cryptoPayOfferVersion is 00012_invoices_one_pending_cryptopay.sql, which
// keeps one Crypto Pay order on offer per user and plan.
const cryptoPayOfferVersion = 12

// TestOneCryptoPayOrderOnOfferPerUserAndPlan migrates a shop holding the
// orders of presses made before, several pending for one user and plan,
// across cryptoPayOfferVersion: all but the newest are superseded (and stay
// pending, for the payment-watcher), and from then on the database refuses
// a second order on offer. Going down drops the index and the columns.
func TestOneCryptoPayOrderOnOfferPerUserAndPlan(t *testing.T) {
	t.Parallel()
	pool, provider := stepwise(t)
	ctx := t.Context()
	order := func(user int, plan, provider string) error {
		_, err := pool.Exec(ctx, `INSERT INTO invoices (user_id, plan_id, provider, price_usd, price_stars, duration, expires_at)
			VALUES ($1, $2, $3, 4.99, 250, interval '30 days', now())`, user, plan, provider)
		return err
	}
	pendingOnOffer := func() []int64 {
		t.Helper()
		var ids []int64
		rows, err := pool.Query(ctx, `SELECT id FROM invoices WHERE status = 'pending' AND superseded_at IS NULL ORDER BY id`)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		require.NoError(t, rows.Err())
		return ids
	}

	_, err := provider.UpTo(ctx, cryptoPayOfferVersion-1)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO users (id, chat_id) VALUES (1, 1), (2, 2)`)
	require.NoError(t, err)
	for _, o := range []struct {
		user           int
		plan, provider string
	}{
		{1, "m1", "cryptopay"}, {1, "m1", "cryptopay"}, {1, "m1", "cryptopay"}, // 1-3: three presses
		{1, "m3", "cryptopay"}, {2, "m1", "cryptopay"}, // 4, 5: one each
		{1, "m1", "stars"}, {1, "m1", "stars"}, // 6, 7: Stars orders are per press
	} {
		require.NoError(t, order(o.user, o.plan, o.provider))
	}

	_, err = provider.UpTo(ctx, cryptoPayOfferVersion)
	require.NoError(t, err)
	require.Equal(t, []int64{3, 4, 5, 6, 7}, pendingOnOffer(), "the older presses' orders are superseded")
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE status = 'pending'`).Scan(&pending))
	require.Equal(t, 7, pending, "and stay pending, for the payment-watcher to settle")

	requireSQLState(t, order(1, "m1", "cryptopay"), "23505") // one on offer per user and plan
	require.NoError(t, order(1, "m12", "cryptopay"))
	require.NoError(t, order(1, "m1", "stars"))
	_, err = pool.Exec(ctx, `UPDATE invoices SET superseded_at = now() WHERE id = 3`)
	require.NoError(t, err)
	require.NoError(t, order(1, "m1", "cryptopay"), "once superseded, a new one may be offered")
	_, err = pool.Exec(ctx, `UPDATE invoices SET status = 'expired' WHERE id = 4`)
	require.NoError(t, err)
	require.NoError(t, order(1, "m3", "cryptopay"), "an expired one is not on offer")

	_, err = provider.DownTo(ctx, cryptoPayOfferVersion-1)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `SELECT superseded_at FROM invoices`)
	requireSQLState(t, err, "42703") // no such column
	require.NoError(t, order(1, "m1", "cryptopay"), "no index any more")

	_, err = provider.Up(ctx)
	require.NoError(t, err, "up again over several pending orders of one user and plan")
}
