package obstest_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
)

func TestMetricReadsTheSeriesWithTheGivenLabels(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	updates := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vpnbot_test_updates_total", Help: "h"},
		[]string{"outcome", "partition"})
	leader := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vpnbot_test_leader", Help: "h"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vpnbot_test_seconds", Help: "h"})
	reg.MustRegister(updates, leader, latency)
	updates.WithLabelValues("handled", "0").Add(3)
	updates.WithLabelValues("failed", "1").Add(2)
	leader.Set(1)
	latency.Observe(0.1)
	latency.Observe(0.2)

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
		ok     bool
	}{
		{"vpnbot_test_updates_total", map[string]string{"outcome": "failed"}, 2, true},
		{"vpnbot_test_updates_total", map[string]string{"outcome": "handled", "partition": "0"}, 3, true},
		{"vpnbot_test_updates_total", map[string]string{"outcome": "handled", "partition": "1"}, 0, false},
		{"vpnbot_test_leader", nil, 1, true},
		{"vpnbot_test_seconds", nil, 2, true},
		{"vpnbot_test_missing", nil, 0, false},
	} {
		v, ok := obstest.Metric(t, reg, tc.name, tc.labels)
		require.Equal(t, tc.ok, ok, "%s%v", tc.name, tc.labels)
		require.Equal(t, tc.want, v, "%s%v", tc.name, tc.labels)
	}
}
