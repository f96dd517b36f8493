package pgdb_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/tracing/tracingtest"
)

// childSpans returns the spans of rec whose parent is parent.
func childSpans(rec *tracetest.SpanRecorder, parent trace.SpanContext) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() == parent.SpanID() && s.SpanContext().TraceID() == parent.TraceID() {
			out = append(out, s)
		}
	}
	return out
}

func TestWithTracingMakesQueriesSpansOfTheirCaller(t *testing.T) {
	rec := tracingtest.Record(t)

	db := pgdbtest.New(t)
	ctx := t.Context()
	pool, err := pgdb.Open(ctx, config.DB{DatabaseURL: db.DSN, PoolMaxSize: 2}, "pgdb-trace", zerolog.Nop(), nil, pgdb.WithTracing())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	untraced, err := pgdb.Open(ctx, config.DB{DatabaseURL: db.DSN, PoolMaxSize: 2}, "pgdb-untraced", zerolog.Nop(), nil)
	require.NoError(t, err)
	t.Cleanup(untraced.Close)

	sctx, span := otel.Tracer("test").Start(ctx, "update")
	var n int
	require.NoError(t, pool.QueryRow(sctx, "SELECT 40 + $1::int", 2).Scan(&n))
	require.Equal(t, 42, n)
	require.NoError(t, untraced.QueryRow(sctx, "SELECT 1").Scan(&n))
	span.End()
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT 2").Scan(&n))

	children := childSpans(rec, span.SpanContext())
	var queries []string
	for _, c := range children {
		for _, a := range c.Attributes() {
			if a.Key == "db.query.text" {
				queries = append(queries, a.Value.AsString())
			}
		}
	}
	require.Contains(t, queries, "SELECT 40 + $1::int", "the traced pool's query is a child of the caller's span")
	require.NotContains(t, queries, "SELECT 1", "the pool without WithTracing traces nothing")
	for _, s := range rec.Ended() {
		require.True(t, s.Parent().IsValid() || s.Name() == "update", "no root span of a query outside a trace: %s", s.Name())
		for _, a := range s.Attributes() {
			require.NotEqual(t, "2", a.Value.Emit(), "query arguments are never recorded")
		}
	}
}
