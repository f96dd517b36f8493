package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop/shoptest"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// BenchmarkOverdue counts the overdue accesses over 100,000 periods
// (shoptest.Seed: 30 % active, half of those expired up to 30 days ago,
// nearly all with a live access), first with that backlog of ~14,000, far
// worse than a working worker leaves, then with the worker caught up but
// for 100. It prints each plan and its time, checks each count against one
// written without the indexes in mind, and fails when a plan reads
// subscriptions or vpn_accesses whole. Run it with -benchtime 1x.
//
//	go test -run '^$' -bench Overdue -benchtime 1x ./internal/store
func BenchmarkOverdue(b *testing.B) {
	const n = 100_000
	db := pgdbtest.New(b)
	shoptest.Seed(b, db.Pool, n)
	cutoff := time.Now().Add(-time.Hour)
	for range b.N {
		overdue(b, db, "backlog", cutoff, n/10)
	}

	// The worker caught up: all but the last 100 overdue periods revoked,
	// then vacuumed as autovacuum would.
	ctx := context.Background()
	for _, sql := range []string{
		`UPDATE subscriptions SET status = 'revoked', revoked_at = now()
		 WHERE status = 'active' AND expires_at <= $1 AND id NOT IN (
			SELECT id FROM subscriptions WHERE status = 'active' AND expires_at <= $1 ORDER BY expires_at DESC LIMIT 100)`,
		`UPDATE vpn_accesses a SET revoked_at = now() FROM subscriptions s
		 WHERE s.id = a.subscription_id AND a.revoked_at IS NULL AND s.status = 'revoked' AND $1::timestamptz IS NOT NULL`,
		`VACUUM ANALYZE subscriptions, vpn_accesses`,
	} {
		args := []any{cutoff}
		if strings.HasPrefix(sql, "VACUUM") {
			args = nil
		}
		_, err := db.Pool.Exec(ctx, sql, args...)
		require.NoError(b, err, sql)
	}
	for range b.N {
		overdue(b, db, "caught_up", cutoff, 90)
	}
}

// overdue explains Overdue at cutoff, checks its count (more than least)
// and its plan, and reports its time as ms/<label>.
func overdue(b *testing.B, db *pgdbtest.DB, label string, cutoff time.Time, least int) {
	b.Helper()
	var want int
	require.NoError(b, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM vpn_accesses a, subscriptions s
		WHERE s.id = a.subscription_id AND a.revoked_at IS NULL AND s.status = 'active' AND s.expires_at <= $1`,
		cutoff).Scan(&want))
	require.Greater(b, want, least, "the seed has accesses to count")

	var got store.Overdue
	plans := pgdbtest.ExplainCalls(b, db.DSN, func(ctx context.Context, pool *pgxpool.Pool) error {
		var err error
		got, err = store.New(pool).Overdue(ctx, cutoff)
		return err
	})
	require.Equal(b, want, got.Accesses)
	require.True(b, got.Oldest.Before(cutoff), "the oldest expired before the cutoff: %s", got.Oldest)
	require.Len(b, plans, 1)
	p := plans[0]
	b.Logf("Overdue (%s) over 100,000 subscriptions, %d overdue: %s\n%s", label, got.Accesses, p.Took, p.Text)
	for _, t := range p.SeqScans() {
		require.NotContains(b, []string{"subscriptions", "vpn_accesses"}, t, "Overdue reads %s whole:\n%s", t, p.Text)
	}
	require.True(b, p.UsesIndex(), p.Text)
	b.ReportMetric(float64(p.Took.Microseconds())/1000, "ms/"+label)
}
