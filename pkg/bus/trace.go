package bus

import (
	"context"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderTraceparent is the W3C trace context header a message carries when
// its publisher traced it; a dead letter keeps its original's.
const HeaderTraceparent = "traceparent"

// tracerName names the spans pkg/bus starts.
const tracerName = "github.com/vpnbot/vpnbot/pkg/bus"

// tracer is the global tracer provider's tracer: pkg/tracing installs the
// provider at start, and until then (or with tracing off) it is a no-op.
// Asking a provider for its tracer takes a lock and builds its config, so
// the tracer is kept for as long as the provider stays the same.
func tracer() trace.Tracer {
	tp := otel.GetTracerProvider()
	if c := tracers.Load(); c != nil && c.provider == tp {
		return c.tracer
	}
	t := tp.Tracer(tracerName)
	tracers.Store(&providerTracer{provider: tp, tracer: t})
	return t
}

type providerTracer struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
}

var tracers atomic.Pointer[providerTracer]

// headerCarrier carries trace context in a message's headers, creating them
// only when there is something to write.
type headerCarrier struct{ msg *nats.Msg }

func (c headerCarrier) Get(key string) string { return c.msg.Header.Get(key) }

func (c headerCarrier) Set(key, value string) {
	if c.msg.Header == nil {
		c.msg.Header = nats.Header{}
	}
	c.msg.Header.Set(key, value)
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c.msg.Header))
	for k := range c.msg.Header {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the trace context of ctx's span into msg's headers, for a
// publisher that does not go through PublishMsg (outbox.PublishBatch).
// With tracing off it writes nothing.
func Inject(ctx context.Context, msg *nats.Msg) {
	otel.GetTextMapPropagator().Inject(ctx, headerCarrier{msg})
}

// extract returns ctx with the remote span context h carries, if any.
func extract(ctx context.Context, h nats.Header) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, headerCarrier{&nats.Msg{Header: h}})
}

// TraceID is the trace id in a message's traceparent header, or "" when it
// carries none. It reads the header whatever the propagators installed, so
// an operator's tool with tracing off still shows it.
func TraceID(h nats.Header) string {
	ctx := propagation.TraceContext{}.Extract(context.Background(), headerCarrier{&nats.Msg{Header: h}})
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// startPublish starts the producer span of publishing msg and writes its
// context into msg's headers, so the consumers' spans are its children.
func startPublish(ctx context.Context, msg *nats.Msg, msgID string) (context.Context, trace.Span) {
	ctx, span := tracer().Start(ctx, "send "+msg.Subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", msg.Subject),
			attribute.String("messaging.message.id", msgID),
		))
	Inject(ctx, msg)
	return ctx, span
}

// endSpan ends span, with an error status when err is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
