package obs

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// healthCollector runs the liveness and readiness checks at scrape time and
// exports their results, so alerts see a failing check even where no
// orchestrator probes /livez (compose, a bare host) and without waiting for
// the restart that the probe would cause.
type healthCollector struct {
	ops         *Ops
	live, ready *prometheus.Desc
}

func newHealthCollector(o *Ops) *healthCollector {
	return &healthCollector{
		ops:   o,
		live:  prometheus.NewDesc("vpnbot_live", "1 when every liveness check (/livez) passes, else 0.", nil, nil),
		ready: prometheus.NewDesc("vpnbot_ready", "1 when every readiness check (/readyz) passes, else 0.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.live
	ch <- c.ready
}

// Collect implements prometheus.Collector. Each check set is bounded by the
// checks' own two-second timeout.
func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx := context.Background()
	ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, passed(c.ops.Live(ctx)))
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, passed(c.ops.Ready(ctx)))
}

func passed(err error) float64 {
	if err != nil {
		return 0
	}
	return 1
}
