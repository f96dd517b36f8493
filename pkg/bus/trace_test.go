package bus_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/bus"
)

// traceSpans returns the ended spans of trace id, oldest first.
func traceSpans(id trace.TraceID) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.SpanContext().TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

// named returns the spans of list called name.
func named(list []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range list {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// waitSpans waits until trace id has n spans called name, and returns them.
func waitSpans(t *testing.T, id trace.TraceID, name string, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	require.Eventually(t, func() bool { return len(named(traceSpans(id), name)) == n }, 5*time.Second, 10*time.Millisecond,
		"want %d %q spans in trace %s, have %d", n, name, id, len(named(traceSpans(id), name)))
	return named(traceSpans(id), name)
}

// handlerSpans records the span each delivery's handler ran in.
type handlerSpans struct {
	mu  sync.Mutex
	scs []trace.SpanContext
}

func (h *handlerSpans) add(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.scs = append(h.scs, trace.SpanFromContext(ctx).SpanContext())
}

func (h *handlerSpans) all() []trace.SpanContext {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]trace.SpanContext(nil), h.scs...)
}

func TestConsumerContinuesThePublishersTraceAcrossRedeliveries(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	logs, log := newLog()
	var seen handlerSpans
	startConsumer(t, js, fastConfig(1), func(ctx context.Context, d bus.Delivery) error {
		seen.add(ctx)
		if d.NumDelivered == 1 {
			return errors.New("panel unreachable")
		}
		return nil
	}, log, nil)

	ctx, root := otel.Tracer("test").Start(context.Background(), "webhook")
	_, err := bus.Publish(ctx, js, testSubject(0), []byte("x"), "trace:1")
	require.NoError(t, err)
	root.End()
	id := root.SpanContext().TraceID()

	send := waitSpans(t, id, "send test.0", 1)[0]
	require.Equal(t, root.SpanContext().SpanID(), send.Parent().SpanID(), "the publish span is a child of the caller's")
	processed := waitSpans(t, id, "process test.0", 2)
	for i, p := range processed {
		require.Equal(t, send.SpanContext().SpanID(), p.Parent().SpanID(),
			"delivery %d: the consumer span is a child of the publish span, a redelivery too", i+1)
		require.True(t, p.Parent().IsRemote())
		require.Equal(t, trace.SpanKindConsumer, p.SpanKind())
	}
	handlers := seen.all()
	require.Len(t, handlers, 2)
	require.Equal(t, processed[0].SpanContext(), handlers[0], "the handler runs in its delivery's span")
	require.Equal(t, processed[1].SpanContext(), handlers[1])
	require.NotEqual(t, handlers[0].SpanID(), handlers[1].SpanID())

	// The log lines of a delivery carry its span.
	failed := logs.Lines("handler failed; will retry")
	require.Len(t, failed, 1)
	require.Contains(t, failed[0], `"trace_id":"`+id.String()+`"`)
	require.Contains(t, failed[0], `"span_id":"`+handlers[0].SpanID().String()+`"`)
	require.Equal(t, "Error", processed[0].Status().Code.String(), "the failed delivery's span says so")
	require.Equal(t, "Unset", processed[1].Status().Code.String())
}

func TestDeadLetterKeepsItsTraceAndReplayContinuesIt(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	_, log := newLog()
	var seen handlerSpans
	startConsumer(t, js, fastConfig(1), func(ctx context.Context, d bus.Delivery) error {
		seen.add(ctx)
		if !strings.Contains(d.MsgID, ":replay:") {
			return bus.Permanent(errors.New("plan not found"))
		}
		return nil
	}, log, nil)

	ctx, root := otel.Tracer("test").Start(context.Background(), "webhook")
	_, err := bus.Publish(ctx, js, testSubject(0), []byte("x"), "trace:2")
	require.NoError(t, err)
	root.End()
	id := root.SpanContext().TraceID()

	require.Eventually(t, func() bool { return len(listDLQ(t, js)) == 1 }, 5*time.Second, 10*time.Millisecond)
	entry := listDLQ(t, js)[0]
	require.Equal(t, id.String(), entry.TraceID, "the dead letter shows its original trace")
	shown, err := bus.GetDLQ(context.Background(), js, entry.Seq)
	require.NoError(t, err)
	require.Equal(t, id.String(), shown.TraceID)

	first := waitSpans(t, id, "process test.0", 1)[0]
	var dead sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range spans.Ended() {
			if s.Name() == "dead-letter "+testStream && len(s.Links()) == 1 && s.Links()[0].SpanContext.Equal(first.SpanContext()) {
				dead = s
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "no dead-letter span linked to the failed delivery")
	require.False(t, dead.Parent().IsValid(), "the dead-lettering is a root of its own, sampled whatever its trace's ratio")
	require.NotEqual(t, id, dead.SpanContext().TraceID())

	require.NoError(t, bus.ReplayDLQ(context.Background(), js, entry.Seq))
	replay := waitSpans(t, id, "replay test.0", 1)[0]
	processed := waitSpans(t, id, "process test.0", 2)
	require.Equal(t, replay.SpanContext().SpanID(), processed[1].Parent().SpanID(), "the replayed message is handled in the original trace")
	handlers := seen.all()
	require.Len(t, handlers, 2)
	require.Equal(t, id, handlers[1].TraceID())
}
