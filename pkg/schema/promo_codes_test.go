package schema_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// promoVersion is 00017_promo_codes.sql, which adds promo codes, their uses
// and the use an order was discounted by.
const promoVersion = 17

// TestPromoCodesGoDownLeavingDiscountedOrdersAsTheyWere migrates a shop with
// an order discounted by a code down across promoVersion and up again: the
// order keeps its price, and stays immutable, with the code and without.
func TestPromoCodesGoDownLeavingDiscountedOrdersAsTheyWere(t *testing.T) {
	t.Parallel()
	pool, provider := stepwise(t)
	ctx := t.Context()

	_, err := provider.UpTo(ctx, promoVersion)
	require.NoError(t, err)
	for _, sql := range []string{
		`INSERT INTO users (id, chat_id) VALUES (1, 1)`,
		`INSERT INTO promo_codes (code, kind, percent, created_by, created_at) VALUES ('SAVE20', 'percent', 20, 7, now())`,
		`INSERT INTO promo_uses (code_id, user_id, n, request_id, created_at) VALUES (1, 1, 1, 'message:1:1', now())`,
		`INSERT INTO invoices (user_id, plan_id, provider, price_usd, price_stars, duration, expires_at, promo_use_id)
		 VALUES (1, 'm1', 'stars', 3.99, 200, interval '30 days', now(), 1)`,
	} {
		_, err := pool.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	_, err = pool.Exec(ctx, `UPDATE invoices SET promo_use_id = NULL`)
	requireSQLState(t, err, "23514")

	_, err = provider.DownTo(ctx, promoVersion-1)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `SELECT count(*) FROM promo_codes`)
	requireSQLState(t, err, "42P01") // no such table
	var stars int
	require.NoError(t, pool.QueryRow(ctx, `SELECT price_stars FROM invoices`).Scan(&stars))
	require.Equal(t, 200, stars, "the order keeps its discounted price")
	_, err = pool.Exec(ctx, `UPDATE invoices SET price_stars = 250`)
	requireSQLState(t, err, "23514")

	_, err = provider.Up(ctx)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE invoices SET price_stars = 250`)
	requireSQLState(t, err, "23514")
}
