// Package shoptest fills a test schema with a shop of realistic size, for
// checking the workers' selection queries against it, and gives one period
// what activation would record for it, for tests of what a user sees once
// their key exists. Only tests import it.
package shoptest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// Seed gives the schema n users, each with one period of access: 30 % active
// (expiring within ±30 days of now, a fifth of them trials, 2 % still
// without an access), the rest revoked long ago with revoked keys; half of
// the users took a trial; n Crypto Pay invoices, 2 % pending. The tables are
// analyzed afterwards, so the planner sees them as a production database
// would.
func Seed(tb testing.TB, pool *pgxpool.Pool, n int) {
	tb.Helper()
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO users (id, chat_id, language, created_at)
		 SELECT g, g, CASE WHEN g % 3 = 0 THEN 'ru' ELSE 'en' END, now() - (g % 400) * interval '1 day'
		 FROM generate_series(1, $1::int) g`,
		`INSERT INTO trials (user_id, started_at)
		 SELECT g, now() - interval '400 days' FROM generate_series(1, $1::int) g WHERE g % 2 = 0`,
		`INSERT INTO subscriptions (user_id, kind, status, starts_at, expires_at, revoked_at)
		 SELECT g,
		        CASE WHEN g % 5 = 0 THEN 'trial' ELSE 'paid' END,
		        CASE WHEN g % 10 < 3 THEN 'active' ELSE 'revoked' END,
		        now() - interval '60 days',
		        CASE WHEN g % 10 < 3 THEN now() + ((g % 61) - 30) * interval '1 day' ELSE now() - interval '30 days' END,
		        CASE WHEN g % 10 < 3 THEN NULL ELSE now() - interval '29 days' END
		 FROM generate_series(1, $1::int) g`,
		`INSERT INTO vpn_accesses (subscription_id, panel, external_id, access_url, revoked_at)
		 SELECT id, 'outline', 'vpnbot-' || id, 'ss://seed@vpn.example.com:443/?outline=1',
		        CASE WHEN status = 'revoked' THEN now() - interval '29 days' END
		 FROM subscriptions WHERE id % 50 <> 0 AND $1::int > 0`,
		`INSERT INTO invoices (user_id, plan_id, provider, price_usd, price_stars, duration, status, external_id, created_at, expires_at)
		 SELECT g, 'm1', 'cryptopay', 4.99, 250, interval '30 days', CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'expired' END,
		        g::text, now() - (g % 100) * interval '1 hour', now() - (g % 100) * interval '1 hour' + interval '1 hour'
		 FROM generate_series(1, $1::int) g`,
	} {
		_, err := pool.Exec(ctx, sql, n)
		require.NoError(tb, err, "seeding: %s", sql)
	}
	_, err := pool.Exec(ctx, "ANALYZE")
	require.NoError(tb, err)
}

// SeedAccess gives an active period a live access on panel with the link
// url, and its user the panel account that access is (vpn_accounts), as
// activation records them: a test sees the user's key without running a
// panel. The account has the name the adapters give it under the default
// prefix, "vpnbot_u<user id>".
func SeedAccess(tb testing.TB, pool *pgxpool.Pool, subscriptionID int64, panel, url string) {
	tb.Helper()
	tag, err := pool.Exec(context.Background(), `
		WITH s AS (SELECT id, user_id FROM subscriptions WHERE id = $1 AND status = 'active'),
		c AS (
			INSERT INTO vpn_accounts (user_id, panel, name, external_id, access_url)
			SELECT user_id, $2, 'vpnbot_u' || user_id, 'seed-' || user_id, $3 FROM s
			RETURNING external_id)
		INSERT INTO vpn_accesses (subscription_id, panel, external_id, access_url)
		SELECT s.id, $2, c.external_id, $3 FROM s, c`, subscriptionID, panel, url)
	require.NoError(tb, err, "seeding the access of subscription %d", subscriptionID)
	require.EqualValues(tb, 1, tag.RowsAffected(), "subscription %d is active and had no access", subscriptionID)
}
