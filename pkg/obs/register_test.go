package obs_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

func TestRegisterSharesACollectorOfTheSameShape(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "vpnbot_test_total", Help: "A test counter."}
	first, err := obs.Register(reg, prometheus.NewCounterVec(opts, []string{"kind"}))
	require.NoError(t, err)
	second, err := obs.Register(reg, prometheus.NewCounterVec(opts, []string{"kind"}))
	require.NoError(t, err)
	require.Same(t, first, second, "the second user gets the registered collector")

	_, err = obs.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts(opts), []string{"other"}))
	require.Error(t, err, "the same name with another shape is refused")
}
