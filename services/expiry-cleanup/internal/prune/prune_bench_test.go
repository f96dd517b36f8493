package prune_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/prune"
)

// BenchmarkPruneOver100kRows runs one pruning pass over 100,000 sent-log
// rows, 100,000 inbox rows and the notifications_sent rows of 100,000
// periods (three each), all spread over the last 31 days, so that about 3 %
// are past the 30-day retention: several batches per table. It prints per
// table the rows, batches and time of the pass, and the scans its
// statements' plans use (explained again once the pass is over), and fails
// when one reads a table whole. Run it with -benchtime 1x: a pass deletes
// what the next would find.
//
//	go test -run '^$' -bench Prune -benchtime 1x ./internal/prune
func BenchmarkPruneOver100kRows(b *testing.B) {
	const n = 100_000
	db := pgdbtest.New(b)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	spread := `$2::timestamptz - (g % 3100) * interval '864 seconds'` // 0 to 31 days ago
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO sent_messages (dedup_id, chat_id, sent_at)
		  SELECT 'm:' || g, g, ` + spread + ` FROM generate_series(1, $1::int) g`, []any{n, now}},
		{`INSERT INTO processed_updates (bot_id, update_id, handled_at)
		  SELECT 7, g, ` + spread + ` FROM generate_series(1, $1::int) g`, []any{n, now}},
		{`INSERT INTO users (id, chat_id) SELECT g, g FROM generate_series(1, $1::int) g`, []any{n}},
		// A third of the periods still active, the rest revoked over the
		// last 31 days.
		{`INSERT INTO subscriptions (user_id, kind, status, starts_at, expires_at, revoked_at)
		  SELECT g, 'paid', CASE WHEN g % 3 = 0 THEN 'active' ELSE 'revoked' END,
		         $2::timestamptz - interval '400 days', $2::timestamptz - interval '31 days' + g * interval '1 minute',
		         CASE WHEN g % 3 <> 0 THEN ` + spread + ` END
		  FROM generate_series(1, $1::int) g`, []any{n, now}},
	} {
		_, err := db.Pool.Exec(ctx, st.sql, st.args...)
		require.NoError(b, err, st.sql)
	}
	_, err := db.Pool.Exec(ctx, `INSERT INTO notifications_sent (subscription_id, kind, expires_at)
		SELECT s.id, k, s.expires_at FROM subscriptions s, unnest(ARRAY['reminder_72h', 'reminder_24h', 'expired']) k`)
	require.NoError(b, err)
	_, err = db.Pool.Exec(ctx, `ANALYZE`)
	require.NoError(b, err)

	for range b.N {
		res, logs := worker.Result{}, &obstest.LogBuffer{}
		plans := pgdbtest.ExplainCalls(b, db.DSN, func(ctx context.Context, pool *pgxpool.Pool) error {
			p, err := prune.New(prune.Config{NowFunc: func() time.Time { return now }}, pool, obstest.NewLogger(logs), nil)
			require.NoError(b, err)
			return p.Prune(ctx, res)
		})
		b.Logf("pruned %v", res)
		for _, table := range []string{prune.TableSentMessages, prune.TableProcessedUpdates, prune.TableNotificationsSent} {
			require.Greater(b, res["pruned_"+table], prune.DefaultBatchSize, "%s was pruned in less than two batches", table)
		}
		for _, table := range []string{prune.TableSentMessages, prune.TableProcessedUpdates, prune.TableNotificationsSent} {
			var statements int
			var slowest time.Duration
			scans := map[string]bool{}
			for _, p := range plans {
				if !strings.Contains(p.SQL, "DELETE FROM "+table) {
					continue
				}
				require.Empty(b, p.SeqScans(), "a pruning statement reads a table whole:\n%s\n%s", p.SQL, p.Text)
				require.True(b, p.UsesIndex(), p.Text)
				statements++
				slowest = max(slowest, p.Took)
				for _, l := range strings.Split(p.Text, "\n") {
					if node, _, ok := strings.Cut(strings.TrimLeft(l, " ->"), "  ("); ok && strings.Contains(node, "Scan") && !strings.HasPrefix(node, "CTE") {
						scans[node] = true
					}
				}
			}
			var took any
			for _, e := range logs.Events(b, prune.EventPruned) {
				if e["table"] == table {
					took = e["duration_ms"]
				}
			}
			b.Logf("%s: %d rows in %d batches, %v ms; re-explained on what is left, the slowest took %s: %s",
				table, res["pruned_"+table], statements, took, slowest, strings.Join(slices.Sorted(maps.Keys(scans)), ", "))
			b.ReportMetric(float64(slowest.Microseconds())/1000, "ms/batch_"+table)
		}
	}
}
