package console

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseMetricsDatesAgesAndLeavesAbsentSeriesOut(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	m, err := parseMetrics(strings.NewReader(`# TYPE vpnbot_worker_last_success_timestamp_seconds gauge
vpnbot_worker_last_success_timestamp_seconds{worker="reminders"} `+formatUnix(now.Add(-90*time.Second))+`
vpnbot_worker_last_success_timestamp_seconds{worker="trial-notifier"} 0
# TYPE vpnbot_worker_iterations_total counter
vpnbot_worker_iterations_total{outcome="error",worker="trial-notifier"} 3
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.048576e+07
# TYPE vpnbot_bot_updates_total counter
vpnbot_bot_updates_total{outcome="handled"} 5
`), now)
	require.NoError(t, err)
	require.Len(t, m.Workers, 2)
	require.Equal(t, "reminders", m.Workers[0].Worker)
	require.NotNil(t, m.Workers[0].LastSuccessAge)
	require.InDelta(t, 90, *m.Workers[0].LastSuccessAge, 1e-6)
	require.Nil(t, m.Workers[0].MeanDuration, "no iteration has ended")
	require.Equal(t, "trial-notifier", m.Workers[1].Worker)
	require.Nil(t, m.Workers[1].LastSuccessAge, "never succeeded")
	require.Equal(t, map[string]float64{"error": 3}, m.Workers[1].IterationsTotal)
	require.True(t, m.Workers[1].Failing, "it failed and never succeeded")
	require.False(t, m.Workers[0].Failing, "it never failed")
	require.Equal(t, map[string]float64{"resident_memory_bytes": 10 << 20}, m.Process)
	require.Empty(t, m.Consumers)
	require.Nil(t, m.Pool)
}

// A worker is failing once its iterations fail and its last success is
// older than two of its intervals; a failure long ago, followed by
// successes, is history.
func TestParseMetricsTellsAWorkerFailingFromOneThatFailedOnce(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	metrics := func(lastSuccess time.Duration) string {
		return `# TYPE vpnbot_worker_last_success_timestamp_seconds gauge
vpnbot_worker_last_success_timestamp_seconds{worker="activation"} ` + formatUnix(now.Add(-lastSuccess)) + `
# TYPE vpnbot_worker_interval_seconds gauge
vpnbot_worker_interval_seconds{worker="activation"} 10
# TYPE vpnbot_worker_iterations_total counter
vpnbot_worker_iterations_total{outcome="ok",worker="activation"} 40
vpnbot_worker_iterations_total{outcome="error",worker="activation"} 1
`
	}
	for lastSuccess, failing := range map[time.Duration]bool{10 * time.Second: false, 21 * time.Second: true} {
		m, err := parseMetrics(strings.NewReader(metrics(lastSuccess)), now)
		require.NoError(t, err)
		require.Equal(t, failing, m.Workers[0].Failing, "last success %s ago", lastSuccess)
	}
}

func TestParseMetricsOfNothing(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(""), time.Now())
	require.NoError(t, err)
	require.Equal(t, Metrics{}, m)
}

func formatUnix(ts time.Time) string { return strconv.FormatInt(ts.Unix(), 10) }

// The status page names the build each service runs, with its commit when
// the version alone does not say which.
func TestParseMetricsReadsTheBuild(t *testing.T) {
	for body, want := range map[string]string{
		`vpnbot_build_info{go_version="go1.26.0",revision="b3507891750cadb1abfa585c6ccc76de631d8fbd",version="b350789-dirty"} 1`: "b350789-dirty",
		`vpnbot_build_info{go_version="go1.26.0",revision="b3507891750cadb1abfa585c6ccc76de631d8fbd",version="dev"} 1`:           "dev (b350789)",
		`vpnbot_build_info{go_version="go1.26.0",revision="dev",version="dev"} 1`:                                                "dev",
	} {
		m, err := parseMetrics(strings.NewReader("# TYPE vpnbot_build_info gauge\n"+body+"\n"), time.Now())
		require.NoError(t, err)
		require.Equal(t, want, m.Version, body)
	}
	m, err := parseMetrics(strings.NewReader(""), time.Now())
	require.NoError(t, err)
	require.Empty(t, m.Version, "a service that does not say")
}
