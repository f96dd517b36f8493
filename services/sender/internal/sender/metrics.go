package sender

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a command, the outcome label of vpnbot_sender_sends_total.
const (
	outcomeSent      = "sent"      // Telegram accepted it
	outcomeDuplicate = "duplicate" // its dedup id was in the sent-log: not sent again
	outcomeBlocked   = "blocked"   // Telegram answered 403: the user is marked blocked
	outcomeDropped   = "dropped"   // the user had blocked the bot: not sent
	outcomeFailed    = "failed"    // one attempt failed (5xx, network, database); it is retried
	outcomeDLQ       = "dlq"       // given up: handed to its consumer to dead-letter
	outcomeCancelled = "cancelled" // its broadcast was cancelled: not sent
)

type metrics struct {
	sends      *prometheus.CounterVec
	floodWaits *prometheus.CounterVec
	wait       prometheus.Histogram
	queueAge   prometheus.Histogram
	queued     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_sender_sends_total",
			Help: "Send commands by priority and outcome (sent, duplicate, blocked, dropped, cancelled, failed attempt, dlq).",
		}, []string{"priority", "outcome"}),
		floodWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_sender_flood_waits_total",
			Help: "429 answers from Telegram, by scope: chat (that chat waits) or global (every send waits).",
		}, []string{"scope"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vpnbot_sender_wait_seconds",
			Help:    "Time a send waited for a token of the global rate limiter.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		queueAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vpnbot_sender_queue_age_seconds",
			Help:    "Age of a command (now - created_at) when Telegram accepted it.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16), // 50 ms to ~27 min
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vpnbot_sender_queued",
			Help: "Commands held in the sender's scheduler, waiting for their turn.",
		}),
	}
	for _, c := range []prometheus.Collector{m.sends, m.floodWaits, m.wait, m.queueAge, m.queued} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the sender metrics: %w", err)
		}
	}
	// Both scopes exist from the start, so the 429 alert's rate() sees the
	// first one.
	for _, scope := range []string{"chat", "global"} {
		m.floodWaits.WithLabelValues(scope)
	}
	return m, nil
}
