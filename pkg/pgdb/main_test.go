package pgdb_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// metric returns the value of the gauge or counter name with the given
// labels, failing the test if the registry has none.
func metric(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := obstest.Metric(t, reg, name, labels)
	require.True(t, ok, "metric %s%v not found", name, labels)
	return v
}

// snapshot gathers reg once, so that several metrics are read from one
// scrape: each scrape queries the database through the pool, which counts
// an acquire.
func snapshot(t *testing.T, reg prometheus.Gatherer) prometheus.Gatherer {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, nil })
}
