package obs

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Observe records v in o, with the trace id of ctx's span as the sample's
// exemplar when that span is sampled: a latency panel's point then opens
// the trace of a request it measured (Grafana's exemplars, the ops port
// serving OpenMetrics). Without a sampled span it is o.Observe(v).
func Observe(ctx context.Context, o prometheus.Observer, v float64) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String()})
			return
		}
	}
	o.Observe(v)
}
