// Package tracingtest turns tracing on for one test, as a service with an
// OTLP endpoint has it, and records the spans the code under test ends.
package tracingtest

import (
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// Record installs, as the otel globals, a tracer provider sampling every
// span into the recorder it returns and the W3C trace context propagator;
// when the test ends it puts back the no-ops a service has with tracing
// off. The globals are the process's: a test that records must not run in
// parallel with others (the parallel ones wait until it has ended).
func Record(tb testing.TB) *tracetest.SpanRecorder {
	tb.Helper()
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	tb.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
	return rec
}
