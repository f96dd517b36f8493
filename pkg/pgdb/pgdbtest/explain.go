package pgdbtest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// Plan is one statement a call ran, and how PostgreSQL ran it.
type Plan struct {
	SQL  string
	Text string        // EXPLAIN (ANALYZE, BUFFERS) output
	Took time.Duration // the statement's own time, from the ANALYZE run
}

// UsesIndex reports whether the plan reads a table through an index.
func (p Plan) UsesIndex() bool { return strings.Contains(p.Text, "Index") }

// SeqScans lists the tables the plan reads whole.
func (p Plan) SeqScans() []string {
	var tables []string
	for _, line := range strings.Split(p.Text, "\n") {
		if _, rest, ok := strings.Cut(line, "Seq Scan on "); ok {
			table, _, _ := strings.Cut(rest, " ")
			tables = append(tables, table)
		}
	}
	return tables
}

// ExplainCalls runs call on a pool over dsn that records every statement
// it sends, then explains each one (ANALYZE, with the same arguments) in a
// transaction that is rolled back, so a statement that writes — a claim by
// INSERT … RETURNING, say — changes nothing. It is how a worker's selection
// query is checked against a large table without copying its SQL.
func ExplainCalls(tb testing.TB, dsn string, call func(ctx context.Context, pool *pgxpool.Pool) error) []Plan {
	tb.Helper()
	ctx := context.Background()
	rec := &recorder{}
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(tb, err)
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(tb, err)
	defer pool.Close()
	require.NoError(tb, call(ctx, pool))

	plain, err := pgxpool.New(ctx, dsn)
	require.NoError(tb, err)
	defer plain.Close()
	var plans []Plan
	for _, q := range rec.queries() {
		plans = append(plans, explain(tb, ctx, plain, q))
	}
	return plans
}

func explain(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, q recorded) Plan {
	tb.Helper()
	tx, err := pool.Begin(ctx)
	require.NoError(tb, err)
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q.sql, q.args...)
	require.NoError(tb, err, "explaining %s", q.sql)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(tb, err, "explaining %s", q.sql)
	p := Plan{SQL: q.sql, Text: strings.Join(lines, "\n")}
	for _, l := range lines {
		if ms, ok := strings.CutPrefix(strings.TrimSpace(l), "Execution Time: "); ok {
			p.Took, _ = time.ParseDuration(strings.ReplaceAll(strings.TrimSuffix(ms, " ms"), " ", "") + "ms")
		}
	}
	return p
}

type recorded struct {
	sql  string
	args []any
}

// recorder is a pgx tracer keeping the statements a call sends, but for
// transaction control, which has nothing to explain.
type recorder struct {
	mu   sync.Mutex
	seen []recorded
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	switch strings.ToUpper(strings.TrimSpace(d.SQL)) {
	case "BEGIN", "COMMIT", "ROLLBACK", "SELECT 1", ";":
		return ctx
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, recorded{sql: d.SQL, args: d.Args})
	return ctx
}

func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *recorder) queries() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.seen...)
}
