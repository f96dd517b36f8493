package worker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/worker"
)

// workerSpans returns the ended spans called name.
func workerSpans(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

func TestEachIterationIsASpanWithItsItemsAndOutcome(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	inside := make(chan trace.SpanContext, 2)
	r := start(t, cfg("trace-expiry", 10), func(ctx context.Context) (worker.Result, error) {
		i := n.Add(1)
		if i <= 2 {
			inside <- trace.SpanContextFromContext(ctx)
		}
		if i == 1 {
			return worker.Result{"revoked": 3, "notified": 2}, nil
		}
		return worker.Result{"revoked": 1}, errors.New("panel unreachable")
	})
	ends := r.waitEnds(t, 2)
	r.stop(t)

	got := workerSpans("trace-expiry")
	require.GreaterOrEqual(t, len(got), 2)
	ok, failed := got[0], got[1]
	require.Equal(t, receive(t, inside, "the first iteration's span"), ok.SpanContext(), "the iteration runs in its span")
	require.Equal(t, receive(t, inside, "the second iteration's span"), failed.SpanContext())
	require.False(t, ok.Parent().IsValid(), "an iteration is the root of its trace")
	require.NotEqual(t, ok.SpanContext().TraceID(), failed.SpanContext().TraceID())

	a := attrs(ok)
	require.EqualValues(t, 3, a["vpnbot.items.revoked"].AsInt64())
	require.EqualValues(t, 2, a["vpnbot.items.notified"].AsInt64())
	require.Equal(t, worker.OutcomeOK, a["vpnbot.outcome"].AsString())
	require.Equal(t, codes.Unset, ok.Status().Code)

	a = attrs(failed)
	require.EqualValues(t, 1, a["vpnbot.items.revoked"].AsInt64())
	require.Equal(t, worker.OutcomeError, a["vpnbot.outcome"].AsString())
	require.Equal(t, codes.Error, failed.Status().Code)
	require.Contains(t, failed.Status().Description, "panel unreachable")

	// The iteration's log lines carry its span.
	require.Equal(t, ok.SpanContext().TraceID().String(), ends[0]["trace_id"])
	require.Equal(t, ok.SpanContext().SpanID().String(), ends[0]["span_id"])
	require.Equal(t, failed.SpanContext().TraceID().String(), ends[1]["trace_id"])
}

func TestWakeFromContinuesTheWakersTrace(t *testing.T) {
	t.Parallel()
	var count atomic.Int32
	started := make(chan trace.SpanContext, 10)
	release := make(chan struct{})
	r := start(t, cfg("trace-activation", time.Hour), func(ctx context.Context) (worker.Result, error) {
		n := count.Add(1)
		started <- trace.SpanContextFromContext(ctx)
		if n == 2 {
			<-release
		}
		return nil, nil
	})
	first := receive(t, started, "the first iteration at start")
	tr := otel.Tracer("test")

	ctx, payment := tr.Start(context.Background(), "payment")
	r.w.WakeFrom(ctx)
	payment.End()
	second := receive(t, started, "the iteration the payment asked for")
	require.Equal(t, payment.SpanContext().TraceID(), second.TraceID(), "the iteration continues the waker's trace")
	require.NotEqual(t, first.TraceID(), second.TraceID())

	ctx3, third := tr.Start(context.Background(), "payment 3")
	ctx4, fourth := tr.Start(context.Background(), "payment 4")
	r.w.WakeFrom(ctx3) // both arrive while iteration 2 runs: one iteration
	r.w.WakeFrom(ctx4)
	third.End()
	fourth.End()
	close(release)
	merged := receive(t, started, "the iteration the merged wakes asked for")
	r.waitEnds(t, 3)
	r.stop(t)

	var span sdktrace.ReadOnlySpan
	for _, s := range workerSpans("trace-activation") {
		if s.SpanContext().Equal(merged) {
			span = s
		}
	}
	require.NotNil(t, span)
	require.Equal(t, third.SpanContext().SpanID(), span.Parent().SpanID(), "a child of the first wake-up")
	require.Len(t, span.Links(), 1, "linked to the other")
	require.True(t, span.Links()[0].SpanContext.Equal(fourth.SpanContext()))
}
