package schema_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// planDurationVersion is 00009_plan_duration_interval.sql, which turns plans'
// and invoices' duration_days into an interval.
const planDurationVersion = 9

// TestPlanDurationBecomesAnIntervalAndBack migrates a shop with an order in
// it across planDurationVersion, down and up again: the days become the same
// length of time, the order stays immutable in both forms, and going down
// refuses a duration that whole days cannot hold.
func TestPlanDurationBecomesAnIntervalAndBack(t *testing.T) {
	t.Parallel()
	pool, provider := stepwise(t)
	ctx := t.Context()

	_, err := provider.UpTo(ctx, planDurationVersion-1)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO users (id, chat_id) VALUES (1, 1);
		INSERT INTO invoices (user_id, plan_id, provider, price_usd, price_stars, duration_days, expires_at)
		VALUES (1, 'm3', 'stars', 12.99, 650, 90, now())`)
	require.NoError(t, err)

	_, err = provider.UpTo(ctx, planDurationVersion)
	require.NoError(t, err)
	require.Equal(t, 30*24*time.Hour, durationOf(t, pool, `SELECT duration FROM plans WHERE id = 'm1'`))
	require.Equal(t, 90*24*time.Hour, durationOf(t, pool, `SELECT duration FROM invoices`))
	_, err = pool.Exec(ctx, `UPDATE invoices SET duration = interval '20 minutes'`)
	requireSQLState(t, err, "23514") // the order cannot change
	_, err = pool.Exec(ctx, `INSERT INTO plans (id, title_en, title_ru, duration, price_usd, price_stars)
		VALUES ('short', 'Short', 'Короткий', interval '20 minutes', 0.5, 1)`)
	require.NoError(t, err)

	_, err = provider.DownTo(ctx, planDurationVersion-1)
	requireSQLState(t, err, "23514") // 20 minutes is no number of days
	_, err = pool.Exec(ctx, `DELETE FROM plans WHERE id = 'short'`)
	require.NoError(t, err)
	_, err = provider.DownTo(ctx, planDurationVersion-1)
	require.NoError(t, err)
	var days int
	require.NoError(t, pool.QueryRow(ctx, `SELECT duration_days FROM invoices`).Scan(&days))
	require.Equal(t, 90, days)
	_, err = pool.Exec(ctx, `UPDATE invoices SET duration_days = 7`)
	requireSQLState(t, err, "23514")

	_, err = provider.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, 90*24*time.Hour, durationOf(t, pool, `SELECT duration FROM invoices`))
}

func durationOf(t *testing.T, pool *pgxpool.Pool, sql string) time.Duration {
	t.Helper()
	var d time.Duration
	require.NoError(t, pool.QueryRow(t.Context(), sql).Scan(&d))
	return d
}
