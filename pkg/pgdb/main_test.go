package pgdb_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// metric returns the value of the gauge or counter name with the given
// labels, failing the test if the registry has none.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := obstest.Metric(t, reg, name, labels)
	require.True(t, ok, "metric %s%v not found", name, labels)
	return v
}
