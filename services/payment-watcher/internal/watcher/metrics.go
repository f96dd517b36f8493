package watcher

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the watcher's Prometheus metrics.
type metrics struct {
	payments *prometheus.CounterVec // by source and outcome
	expired  *prometheus.CounterVec // by reason
	events   *prometheus.CounterVec // by outcome
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_payment_watcher_payments_total",
			Help: "Crypto Pay payments reported, by source (webhook, poll) and outcome (applied, already_applied, unknown_invoice).",
		}, []string{"source", "outcome"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_payment_watcher_invoices_expired_total",
			Help: "Pending invoices expired, by reason (expired_at_provider, deleted_at_provider, never_created).",
		}, []string{"reason"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_payment_watcher_events_total",
			Help: "payments.cryptopay events handled, by outcome (ok, retry, malformed).",
		}, []string{"outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.payments, m.expired, m.events} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering payment watcher metrics: %w", err)
		}
	}
	return m, nil
}
