package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/tracing"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// aTrace is a context holding a sampled span context, as a handler in the
// middle of a trace has.
func aTrace() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled,
	})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

func TestSetupWithoutEndpointInstallsNothingAndPublishesNoTraceContext(t *testing.T) {
	var logs obstest.LogBuffer
	before := goleak.IgnoreCurrent()
	shutdown, err := tracing.Setup(context.Background(), "gateway", tracing.Config{}, obstest.NewLogger(&logs))
	require.NoError(t, err)
	goleak.VerifyNone(t, before) // no exporter or batch processor goroutine
	require.Len(t, logs.Events(t, tracing.EventTracing), 1)
	require.Equal(t, false, logs.Events(t, tracing.EventTracing)[0]["enabled"])

	_, span := otel.Tracer("test").Start(aTrace(), "publish")
	require.False(t, span.IsRecording(), "spans are the API's no-op ones")
	span.End()

	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	ctx, cancel := context.WithTimeout(aTrace(), 5*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "OFF", Subjects: []string{"off"}})
	require.NoError(t, err)
	_, err = bus.Publish(ctx, js, "off", []byte("x"), "")
	require.NoError(t, err)
	s, err := js.Stream(ctx, "OFF")
	require.NoError(t, err)
	raw, err := s.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "x", string(raw.Data), "the vacuity guard: the message read is the one published")
	require.Empty(t, raw.Header.Get(bus.HeaderTraceparent), "no trace context is written with tracing off")
	require.Empty(t, raw.Header, "nor any header")

	require.NoError(t, shutdown(context.Background()))
}

// collector is an OTLP/HTTP endpoint that keeps the spans it receives.
type collector struct {
	mu       sync.Mutex
	services []string
	spans    []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.URL.Path != "/v1/traces" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				c.services = append(c.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				c.spans = append(c.spans, sp.GetName())
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(nil)
}

func (c *collector) received() (services, spans []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.services...), append([]string(nil), c.spans...)
}

// resetGlobals puts back the otel globals Setup replaced.
func resetGlobals(t *testing.T) {
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
}

func TestSetupExportsOverOTLPAndKeepsKeptAndFailedSpansWhateverTheSampler(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	resetGlobals(t)

	var logs obstest.LogBuffer
	shutdown, err := tracing.Setup(context.Background(), "sender", tracing.Config{
		Endpoint:   srv.URL,
		Sampler:    "parentbased_traceidratio",
		SamplerArg: "0",
	}, obstest.NewLogger(&logs))
	require.NoError(t, err)
	require.Equal(t, true, logs.Events(t, tracing.EventTracing)[0]["enabled"])

	tr := otel.Tracer("test")
	_, dropped := tr.Start(context.Background(), "sampled out")
	require.False(t, dropped.SpanContext().IsSampled(), "a ratio of 0 samples no new trace")
	dropped.End()
	_, kept := tr.Start(context.Background(), "dead-lettered", trace.WithAttributes(tracing.Keep))
	require.True(t, kept.SpanContext().IsSampled(), "a Keep span is sampled all the same")
	kept.End()
	ctx, failing := tr.Start(context.Background(), "handler")
	require.False(t, failing.SpanContext().IsSampled())
	_, query := tr.Start(ctx, "query")
	query.End()
	failing.SetStatus(codes.Error, "the panel answered 500")
	failing.End()

	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(trace.ContextWithSpan(context.Background(), kept), carrier)
	require.Contains(t, carrier["traceparent"], kept.SpanContext().TraceID().String(), "W3C trace context is propagated")

	require.NoError(t, shutdown(context.Background()), "shutdown flushes the batch")
	services, spans := col.received()
	require.ElementsMatch(t, []string{"dead-lettered", "handler"}, spans,
		"a failed span is kept whatever the sampler; its trace's other spans are not")
	require.NotEmpty(t, services)
	for _, s := range services {
		require.Equal(t, "sender", s, "the spans are the service's")
	}
}

func TestSetupRefusesAnUnknownSampler(t *testing.T) {
	_, err := tracing.Setup(context.Background(), "sender", tracing.Config{Endpoint: "http://127.0.0.1:1", Sampler: "sometimes"}, zerolog.Nop())
	require.ErrorContains(t, err, `OTEL_TRACES_SAMPLER="sometimes"`)
	_, err = tracing.Setup(context.Background(), "sender", tracing.Config{Endpoint: "http://127.0.0.1:1", Sampler: "traceidratio", SamplerArg: "2"}, zerolog.Nop())
	require.ErrorContains(t, err, "OTEL_TRACES_SAMPLER_ARG")
}
