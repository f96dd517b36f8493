package bus

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

// Outcomes of a delivery (the outcome label of vpnbot_consumer_messages_total).
const (
	outcomeOK      = "ok"
	outcomeRetry   = "retry"
	outcomeTimeout = "timeout"
	outcomeDLQ     = "dlq"
)

// consumerMetrics are one Consumer's series, labelled with its stream and
// consumer (durable, or durable prefix).
type consumerMetrics struct {
	messages     map[string]prometheus.Counter // by outcome
	duration     prometheus.Observer
	redeliveries prometheus.Counter
	pending      prometheus.Gauge
	ackPending   prometheus.Gauge
	abandoned    prometheus.Gauge
	gateClosed   prometheus.Gauge
}

func newConsumerMetrics(reg prometheus.Registerer, stream, consumer string) (*consumerMetrics, error) {
	labels := []string{"stream", "consumer"}
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_consumer_messages_total",
		Help: "Deliveries handled by a consumer, by outcome (ok, retry, timeout, dlq).",
	}, append(labels, "outcome"))
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vpnbot_consumer_handler_duration_seconds",
		Help:    "Time from a delivery to its settlement (up to the deadline when abandoned).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25, 60},
	}, labels)
	redeliveries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_consumer_redeliveries_total",
		Help: "Deliveries of a message that had been delivered before.",
	}, labels)
	pending := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_consumer_pending",
		Help: "Messages not yet delivered to a consumer (lag), summed over partitions, as this replica last saw them; take the max over replicas.",
	}, labels)
	ackPending := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_consumer_ack_pending",
		Help: "Messages delivered to a consumer and not yet acknowledged (held, or failing and waiting for redelivery), as this replica last saw them.",
	}, labels)
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
		if messages, err = obs.Register(reg, messages); err != nil {
			return nil, err
		}
		if duration, err = obs.Register(reg, duration); err != nil {
			return nil, err
		}
		if redeliveries, err = obs.Register(reg, redeliveries); err != nil {
			return nil, err
		}
		for _, g := range []**prometheus.GaugeVec{&pending, &ackPending, &abandoned, &gateClosed} {
			if *g, err = obs.Register(reg, *g); err != nil {
				return nil, err
			}
		}
	}

	m := &consumerMetrics{
		messages:     map[string]prometheus.Counter{},
		duration:     duration.WithLabelValues(stream, consumer),
		redeliveries: redeliveries.WithLabelValues(stream, consumer),
		pending:      pending.WithLabelValues(stream, consumer),
		ackPending:   ackPending.WithLabelValues(stream, consumer),
		abandoned:    abandoned.WithLabelValues(stream, consumer),
		gateClosed:   gateClosed.WithLabelValues(stream, consumer),
	}
	// Every outcome exists from the start, so rate() sees the first increase.
	for _, o := range []string{outcomeOK, outcomeRetry, outcomeTimeout, outcomeDLQ} {
		m.messages[o] = messages.WithLabelValues(stream, consumer, o)
	}
	return m, nil
}
