package obs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

// TestALineLoggedInsideASpanCarriesItsTraceAndSpan checks the service
// logger: a line given a span's context, on the event or on a child
// logger, names that span; a line without one names none.
func TestALineLoggedInsideASpanCarriesItsTraceAndSpan(t *testing.T) {
	var out bytes.Buffer
	log, err := obs.NewLogger(&out, "bot-handler", "bot-handler-0", "info")
	require.NoError(t, err)
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	log.Info().Ctx(ctx).Msg("event inside")
	child := log.With().Str("update", "1").Ctx(ctx).Logger()
	child.Info().Msg("child inside")
	log.Info().Msg("outside")
	log.Info().Ctx(context.Background()).Msg("background")

	lines := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines[m["message"].(string)] = m
	}
	for _, msg := range []string{"event inside", "child inside"} {
		require.Equal(t, sc.TraceID().String(), lines[msg]["trace_id"], msg)
		require.Equal(t, sc.SpanID().String(), lines[msg]["span_id"], msg)
	}
	for _, msg := range []string{"outside", "background"} {
		require.NotContains(t, lines[msg], "trace_id", msg)
		require.NotContains(t, lines[msg], "span_id", msg)
	}
}
