package tracing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/buildinfo"
)

// EventTracing is the log line that says whether traces are exported, and
// where to.
const EventTracing = "TRACING"

// Keep, among a span's start attributes, makes the sampler keep the span
// whatever its trace's decision: for the rare spans an operator must always
// find, such as a dead-lettering.
var Keep = attribute.Bool("vpnbot.keep", true)

// Config is the standard OTEL_* settings that decide whether and how
// traces are sampled and exported; the exporter reads the rest itself.
type Config struct {
	// Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string
	// TracesEndpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
	TracesEndpoint string
	// Sampler is OTEL_TRACES_SAMPLER; empty is parentbased_always_on.
	Sampler string
	// SamplerArg is OTEL_TRACES_SAMPLER_ARG: the ratio of the
	// traceidratio samplers; empty is 1.
	SamplerArg string
}

// Enabled reports whether an OTLP endpoint is set, and so whether Setup
// exports traces.
func (c Config) Enabled() bool { return c.Endpoint != "" || c.TracesEndpoint != "" }

// ShutdownFunc flushes the spans not yet exported and stops the exporter.
type ShutdownFunc func(ctx context.Context) error

// Setup installs tracing for service as the package doc tells, and returns
// the func that flushes it at shutdown. With no endpoint it installs
// nothing and its ShutdownFunc does nothing.
func Setup(ctx context.Context, service string, cfg Config, log zerolog.Logger) (ShutdownFunc, error) {
	if !cfg.Enabled() {
		log.Info().Str("event", EventTracing).Bool("enabled", false).Msg("tracing off: no OTLP endpoint set")
		return func(context.Context) error { return nil }, nil
	}
	sampler, err := newSampler(cfg.Sampler, cfg.SamplerArg)
	if err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(
			attribute.String("service.name", service),
			attribute.String("service.version", buildinfo.Get().Version),
		))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("describing the service for traces: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(keepErrors{sdktrace.NewBatchSpanProcessor(exp)}),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(keepSampler{sampler}),
	)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn().Str("event", EventTracing).Err(err).Msg("tracing error")
	}))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	endpoint := cfg.TracesEndpoint
	if endpoint == "" {
		endpoint = cfg.Endpoint
	}
	log.Info().Str("event", EventTracing).Bool("enabled", true).Str("endpoint", endpoint).
		Str("sampler", sampler.Description()).Msg("exporting traces over OTLP/HTTP")
	return func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("flushing traces: %w", err)
		}
		return nil
	}, nil
}

// newSampler is the sampler OTEL_TRACES_SAMPLER names, with the SDK's
// meaning of each value. The SDK reads the variables only when it is given
// no sampler, and the keepSampler must wrap it, so they are read here.
func newSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1", arg)
		}
		return r, nil
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.TraceIDRatioBased(r), nil
	case "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio or their parentbased_ forms", name)
	}
}

// keepSampler samples a span started with Keep, and leaves every other
// decision to the configured sampler, but for one change: a span it would
// drop is recorded all the same (not sampled), so that keepErrors can
// export it if it fails.
type keepSampler struct {
	sdktrace.Sampler
}

func (s keepSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	for _, a := range p.Attributes {
		if a == Keep {
			return sdktrace.SamplingResult{
				Decision:   sdktrace.RecordAndSample,
				Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState(),
			}
		}
	}
	r := s.Sampler.ShouldSample(p)
	if r.Decision == sdktrace.Drop {
		r.Decision = sdktrace.RecordOnly
	}
	return r
}

// keepErrors hands its processor the spans of sampled traces and, of the
// others, those that ended in an error, marked sampled so that they are
// exported: a failure is kept whatever the sampler, though without the
// rest of its trace (its trace_id finds the logs of the rest).
type keepErrors struct {
	sdktrace.SpanProcessor
}

func (k keepErrors) OnEnd(s sdktrace.ReadOnlySpan) {
	sc := s.SpanContext()
	if !sc.IsSampled() {
		if s.Status().Code != codes.Error {
			return
		}
		s = sampledSpan{ReadOnlySpan: s, sc: sc.WithTraceFlags(sc.TraceFlags().WithSampled(true))}
	}
	k.SpanProcessor.OnEnd(s)
}

// sampledSpan is a span recorded only, shown to the exporter as sampled.
type sampledSpan struct {
	sdktrace.ReadOnlySpan
	sc trace.SpanContext
}

func (s sampledSpan) SpanContext() trace.SpanContext { return s.sc }

func (s keepSampler) Description() string { return "KeepOr{" + s.Sampler.Description() + "}" }
