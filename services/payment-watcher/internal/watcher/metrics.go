package watcher

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the watcher's Prometheus metrics.
type metrics struct {
	payments *prometheus.CounterVec // by source and outcome
	expired  *prometheus.CounterVec // by reason
	// paidUnapplied is what the last poll found paid and could not apply or
	// announce: money taken, nothing given (or said) yet.
	paidUnapplied prometheus.Gauge
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
		paidUnapplied: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vpnbot_payment_watcher_paid_unapplied",
			Help: "Paid invoices the last poll failed to apply or announce: paid at Crypto Pay and not applied, or applied (by a poll or a webhook) and the user not told (set by the leader's poller; they are retried each poll).",
		}),
	}
	// Every known label value exists from the start, so dashboards and
	// rate() see the first payment, event or expiry.
	for _, source := range []string{sourceWebhook, sourcePoll} {
		for _, outcome := range []string{"applied", "already_applied", "unknown_invoice"} {
			m.payments.WithLabelValues(source, outcome)
		}
	}
	for _, reason := range []string{expiredAtProvider, deletedAtProvider, neverCreated} {
		m.expired.WithLabelValues(reason)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.payments, m.expired, m.paidUnapplied} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering payment watcher metrics: %w", err)
		}
	}
	return m, nil
}
