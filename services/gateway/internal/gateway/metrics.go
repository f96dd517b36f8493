package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus metrics.
type metrics struct {
	requests        *prometheus.CounterVec // by HTTP status
	requestDuration prometheus.Histogram
	publishDuration prometheus.Histogram
	duplicates      prometheus.Counter
	published       *prometheus.CounterVec // by source: webhook or poll
	lastUpdate      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	// Publishing waits for a file-stored JetStream ack: usually a millisecond
	// or two, up to PUBLISH_TIMEOUT when the broker struggles.
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_gateway_requests_total",
			Help: "Webhook requests by HTTP status answered (401 bad secret, 400/413 bad body, 503 broker unavailable).",
		}, []string{"status"}),
		requestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vpnbot_gateway_request_duration_seconds",
			Help:    "Time to answer a webhook request, including the JetStream ack.",
			Buckets: latency,
		}),
		publishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vpnbot_gateway_publish_duration_seconds",
			Help:    "Time from publishing an update to its JetStream ack (or failure).",
			Buckets: latency,
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vpnbot_gateway_duplicates_total",
			Help: "Updates published again that the stream already had (Telegram redelivered them).",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_gateway_published_total",
			Help: "Updates stored in the stream, by how they arrived (webhook or poll).",
		}, []string{"source"}),
		lastUpdate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vpnbot_gateway_last_request_timestamp_seconds",
			Help: "Unix time of the last webhook request (any, even rejected) or polled update.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.requestDuration, m.publishDuration, m.duplicates, m.published, m.lastUpdate} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering gateway metrics: %w", err)
		}
	}
	return m, nil
}
