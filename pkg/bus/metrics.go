package bus

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a delivery (the outcome label of vpnbot_consumer_messages_total).
const (
	outcomeOK      = "ok"
	outcomeRetry   = "retry"
	outcomeTimeout = "timeout"
	outcomeDLQ     = "dlq"
)

// runnerMetrics are one Runner's series, labelled with its stream and
// consumer (durable prefix).
type runnerMetrics struct {
	messages     map[string]prometheus.Counter // by outcome
	duration     prometheus.Observer
	redeliveries prometheus.Counter
	pending      prometheus.Gauge
	abandoned    prometheus.Gauge
	gateClosed   prometheus.Gauge
}

func newRunnerMetrics(reg prometheus.Registerer, stream, consumer string) (*runnerMetrics, error) {
	labels := []string{"stream", "consumer"}
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_consumer_messages_total",
		Help: "Deliveries handled by a consumer, by outcome (ok, retry, timeout, dlq).",
	}, append(labels, "outcome"))
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vpnbot_consumer_handler_duration_seconds",
		Help:    "Time a handler took on one delivery (up to the deadline when abandoned).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25, 60},
	}, labels)
	redeliveries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_consumer_redeliveries_total",
		Help: "Deliveries of a message that had been delivered before.",
	}, labels)
	pending := newPendingGauge()
	abandoned := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_consumer_abandoned_handlers",
		Help: "Handlers given up at their deadline that have still not returned.",
	}, labels)
	gateClosed := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_consumer_gate_closed",
		Help: "1 while the consumer's gate (a dependency such as PostgreSQL) is closed and nothing is fetched.",
	}, labels)

	if reg != nil {
		var err error
		if messages, err = register(reg, messages); err != nil {
			return nil, err
		}
		if duration, err = register(reg, duration); err != nil {
			return nil, err
		}
		if redeliveries, err = register(reg, redeliveries); err != nil {
			return nil, err
		}
		if pending, err = register(reg, pending); err != nil {
			return nil, err
		}
		if abandoned, err = register(reg, abandoned); err != nil {
			return nil, err
		}
		if gateClosed, err = register(reg, gateClosed); err != nil {
			return nil, err
		}
	}

	m := &runnerMetrics{
		messages:     map[string]prometheus.Counter{},
		duration:     duration.WithLabelValues(stream, consumer),
		redeliveries: redeliveries.WithLabelValues(stream, consumer),
		pending:      pending.WithLabelValues(stream, consumer),
		abandoned:    abandoned.WithLabelValues(stream, consumer),
		gateClosed:   gateClosed.WithLabelValues(stream, consumer),
	}
	// Every outcome exists from the start, so rate() sees the first increase.
	for _, o := range []string{outcomeOK, outcomeRetry, outcomeTimeout, outcomeDLQ} {
		m.messages[o] = messages.WithLabelValues(stream, consumer, o)
	}
	return m, nil
}

// newPendingGauge is vpnbot_consumer_pending, which both a Runner and
// WatchConsumers set: one family, so dashboards read every consumer's lag
// alike.
func newPendingGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_consumer_pending",
		Help: "Messages not yet delivered to a consumer (lag), summed over partitions, as this replica last saw them; take the max over replicas.",
	}, []string{"stream", "consumer"})
}

// register registers c, or returns the collector already registered under
// the same name: several runners (say, for two streams) share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("registering consumer metrics: %w", err)
}
