package store_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop/shoptest"
	"github.com/vpnbot/vpnbot/services/trial-notifier/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bigTables are the tables that grow with the business: a selection query
// must never read one of them whole.
var bigTables = []string{"subscriptions", "users", "trials", "notifications_sent", "user_notices"}

// BenchmarkSelectionQueries runs each of the trial-notifier's claims over
// 100,000 users with a period each (shoptest.Seed: 30 % active, a fifth of
// all trials) and three notifications_sent rows per period, prints per
// claim its time and the scans of its plan, and fails when one reads a
// growing table whole. Run it with -benchtime 1x (make bench does).
//
//	go test -run '^$' -bench SelectionQueries -benchtime 1x ./internal/store
func BenchmarkSelectionQueries(b *testing.B) {
	const n = 100_000
	db := pgdbtest.New(b)
	shoptest.Seed(b, db.Pool, n)
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO notifications_sent (subscription_id, kind, expires_at, sent_at)
		 SELECT s.id, k, s.expires_at, s.starts_at FROM subscriptions s, unnest(ARRAY['reminder_72h', 'reminder_24h', 'key']) k`,
		`INSERT INTO user_notices (user_id, kind) SELECT id, 'never_started' FROM users WHERE id % 4 = 1`,
		`ANALYZE`,
	} {
		_, err := db.Pool.Exec(ctx, sql)
		require.NoError(b, err, sql)
	}
	const batch = 100
	calls := []struct {
		name string
		call func(context.Context, *store.Store, time.Time) error
	}{
		{"trial_1h: ClaimEnding", func(ctx context.Context, s *store.Store, now time.Time) error {
			_, err := s.ClaimEnding(ctx, store.Ending{Kind: notify.TrialEndsSoonKind(time.Hour), Lead: time.Hour}, now, batch)
			return err
		}},
		{"trial_24h: ClaimEnding", func(ctx context.Context, s *store.Store, now time.Time) error {
			_, err := s.ClaimEnding(ctx, store.Ending{Kind: notify.TrialEndsSoonKind(24 * time.Hour), Lead: 24 * time.Hour, Until: time.Hour}, now, batch)
			return err
		}},
		{"trial_ended: ClaimEnding", func(ctx context.Context, s *store.Store, now time.Time) error {
			_, err := s.ClaimEnding(ctx, store.Ending{Kind: notify.KindTrialEnded, Until: -time.Hour}, now, batch)
			return err
		}},
		{"never_started: ClaimNeverStarted", func(ctx context.Context, s *store.Store, now time.Time) error {
			_, err := s.ClaimNeverStarted(ctx, notify.KindNeverStarted, now, 24*time.Hour, 7*24*time.Hour, batch)
			return err
		}},
	}
	for range b.N {
		for _, c := range calls {
			plans := pgdbtest.ExplainCalls(b, db.DSN, func(ctx context.Context, pool *pgxpool.Pool) error {
				return c.call(ctx, store.New(pool, time.Hour), time.Now())
			})
			require.Len(b, plans, 1, c.name)
			p := plans[0]
			for _, t := range p.SeqScans() {
				require.NotContains(b, bigTables, t, "%s reads %s whole:\n%s", c.name, t, p.Text)
			}
			require.True(b, p.UsesIndex(), "%s uses no index:\n%s", c.name, p.Text)
			b.Logf("%s over %d users: %s; %s", c.name, n, p.Took, strings.Join(scans(p.Text), ", "))
			b.ReportMetric(float64(p.Took.Microseconds())/1000, "ms/"+strings.TrimSuffix(strings.Fields(c.name)[0], ":"))
		}
	}
}

// scans lists the scan nodes of an EXPLAIN text ("Index Scan using … on …"),
// each once, sorted: the plan in one line.
func scans(plan string) []string {
	seen := map[string]bool{}
	for _, l := range strings.Split(plan, "\n") {
		node, _, ok := strings.Cut(strings.TrimLeft(l, " ->"), "  (")
		if ok && strings.Contains(node, "Scan") && !strings.HasPrefix(node, "CTE") {
			seen[node] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
