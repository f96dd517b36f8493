package schema_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// requestIDVersion is 00010_invoices_request_id.sql, which binds an order to
// the request that made it.
const requestIDVersion = 10

// TestInvoiceRequestIDIsUniqueWhenSetAndGoesDown migrates a shop with an
// order in it across requestIDVersion, down and up again: orders of no
// request stay many, a request has one order, and going down drops the
// column with its index.
func TestInvoiceRequestIDIsUniqueWhenSetAndGoesDown(t *testing.T) {
	t.Parallel()
	pool, provider := stepwise(t)
	ctx := t.Context()
	const order = `INSERT INTO invoices (user_id, plan_id, provider, price_usd, price_stars, duration, expires_at)
		VALUES (1, 'm1', 'stars', 4.99, 250, interval '30 days', now())`

	_, err := provider.UpTo(ctx, requestIDVersion-1)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO users (id, chat_id) VALUES (1, 1)`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, order)
	require.NoError(t, err)

	_, err = provider.UpTo(ctx, requestIDVersion)
	require.NoError(t, err)
	var nulls int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE request_id IS NULL`).Scan(&nulls))
	require.Equal(t, 1, nulls, "an order made before has no request")
	_, err = pool.Exec(ctx, order)
	require.NoError(t, err, "orders of no request are many")
	_, err = pool.Exec(ctx, `UPDATE invoices SET request_id = 'press-1' WHERE id = 1`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE invoices SET request_id = 'press-1' WHERE id = 2`)
	requireSQLState(t, err, "23505") // one order per request

	_, err = provider.DownTo(ctx, requestIDVersion-1)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `SELECT request_id FROM invoices`)
	requireSQLState(t, err, "42703") // no such column

	_, err = provider.Up(ctx)
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE request_id IS NULL`).Scan(&nulls))
	require.Equal(t, 2, nulls)
}
