package activation

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// tracerName names the spans the activation worker starts itself.
const tracerName = "github.com/vpnbot/vpnbot/services/activation"

// startPeriod starts the span of activating one period. A period keeps the
// trace of what granted it its time (a payment applied, a trial taken):
// its activation and its key continue that trace, linked to this
// iteration's, so one trace runs from a payment's webhook to its key
// whether the payment's wake-up or the poll brought the period here. A
// period without one, or one this iteration already continues (woken by
// that payment), is a child of the iteration's span.
func startPeriod(ctx context.Context, sub shop.Subscription) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{trace.WithAttributes(
		attribute.Int64("vpnbot.subscription_id", sub.ID),
		attribute.Int64("vpnbot.user_id", sub.UserID),
	)}
	parent := ctx
	if sub.TraceParent != "" {
		granted := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": sub.TraceParent}))
		if granted.IsValid() && granted.TraceID() != trace.SpanContextFromContext(ctx).TraceID() {
			if iteration := trace.LinkFromContext(ctx); iteration.SpanContext.IsValid() {
				opts = append(opts, trace.WithLinks(iteration))
			}
			parent = trace.ContextWithRemoteSpanContext(ctx, granted)
		}
	}
	return otel.Tracer(tracerName).Start(parent, "activate period", opts...)
}
