// Package tracing sets up OpenTelemetry tracing for a service and holds the
// little the rest of the code shares about it.
//
// Setup is off unless OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set: it then installs nothing, the
// otel globals stay the API's no-op ones, every span started anywhere is
// non-recording, no exporter goroutine runs and no traceparent header is
// written. When an endpoint is set, Setup installs, as the otel globals
// that pkg/bus, pkg/worker and the HTTP and pgx instrumentation use, an SDK
// tracer provider with service.name = the service's name (service.version
// from pkg/buildinfo), a batch span processor exporting OTLP over HTTP, and
// the W3C TraceContext and Baggage propagators. The exporter and the batch
// processor read their own standard OTEL_* settings (headers, timeouts,
// queue sizes); OTEL_RESOURCE_ATTRIBUTES adds to the resource, though
// service.name stays the service's.
//
// Sampling is head sampling, decided when a trace's first span starts:
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, as the SDK reads them
// (parentbased_always_on by default), so a message's consumer follows its
// publisher's decision. What head sampling can and cannot keep:
//
//   - A span started with the Keep attribute is always recorded and
//     exported, whatever the sampler. pkg/bus starts the span of a
//     dead-lettering this way, as a new root linked to the message's own
//     trace, so every dead letter has a kept trace.
//   - An error is not known when its trace starts. So a span the sampler
//     would drop is recorded all the same, not sampled, and when it ends in
//     an error it is exported as if sampled: every failing span is kept,
//     though the rest of a trace not sampled is not (its trace_id finds the
//     logs of the rest). Below 100 % sampling the services therefore record
//     every span, at the CPU cost of 100 %, and export only the sampled
//     traces and the failures. Keeping whole failing traces needs tail
//     sampling in a collector.
//
// The rest is shared by the packages that trace: a log line given its
// context (zerolog's Event.Ctx or Context.Ctx) carries its span's trace_id
// and span_id through obs.SpanFields; HTTPHandler and HTTPTransport are
// otelhttp for the webhooks and for the clients of outside APIs, which get
// no trace context and whose secrets (a bot token, a panel's secret path)
// never reach a span. pgdb.WithTracing does the same for queries, with
// exaring/otelpgx.
package tracing
