package obs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

// A latency observed inside a sampled span carries its trace id as the
// exemplar; outside one, or in a span not sampled, none.
func TestAnObservationInASampledSpanNamesItsTrace(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vpnbot_test_seconds", Help: "test", Buckets: []float64{1}})
	reg.MustRegister(h)

	sampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	ctx, span := sampled.Tracer("test").Start(context.Background(), "request")
	obs.Observe(ctx, h, 0.5)
	span.End()
	dropped := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	notSampled, other := dropped.Tracer("test").Start(context.Background(), "request")
	obs.Observe(notSampled, h, 2)
	other.End()
	obs.Observe(context.Background(), h, 3)

	mfs, err := reg.Gather()
	require.NoError(t, err)
	hist := mfs[0].GetMetric()[0].GetHistogram()
	require.EqualValues(t, 3, hist.GetSampleCount(), "every observation counted")
	var exemplars []string
	for _, b := range hist.GetBucket() {
		if e := b.GetExemplar(); e != nil {
			for _, l := range e.GetLabel() {
				exemplars = append(exemplars, l.GetName()+"="+l.GetValue())
			}
		}
	}
	require.Equal(t, []string{"trace_id=" + span.SpanContext().TraceID().String()}, exemplars)
}

// The ops port serves exemplars to a scraper that asks for OpenMetrics, as
// Prometheus does; a plain scrape gets the text format, without them.
func TestTheOpsPortServesExemplarsInOpenMetrics(t *testing.T) {
	ops := obs.NewOps(zerolog.Nop())
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vpnbot_test_seconds", Help: "test", Buckets: []float64{1}})
	ops.Registry().MustRegister(h)
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "request")
	obs.Observe(ctx, h, 0.5)
	span.End()

	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	rec := httptest.NewRecorder()
	ops.Handler().ServeHTTP(rec, req)
	require.Contains(t, rec.Body.String(), `# {trace_id="`+span.SpanContext().TraceID().String()+`"} 0.5`)

	rec = httptest.NewRecorder()
	ops.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Contains(t, rec.Body.String(), "vpnbot_test_seconds_count 1")
	require.NotContains(t, rec.Body.String(), "trace_id")
}
