package pgdb_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger logs JSON lines like a service's logger. It is not built with
// obs.NewLogger, which sets zerolog's global time format and so races with
// loggers already writing in parallel tests.
func testLogger(w *logBuffer) zerolog.Logger {
	return zerolog.New(w).Level(zerolog.DebugLevel)
}

// logBuffer collects the JSON log lines written by goroutines under test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// events returns the log lines whose `event` is ev.
func (b *logBuffer) events(t *testing.T, ev string) []map[string]any {
	t.Helper()
	return b.lines(t, "event", ev)
}

// lines returns the log lines whose field key is value.
func (b *logBuffer) lines(t *testing.T, key, value string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		if m[key] == value {
			out = append(out, m)
		}
	}
	return out
}

// metric returns the value of the gauge or counter name with the given
// labels, failing the test if the registry has none.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := findMetric(t, reg, name, labels)
	require.True(t, ok, "metric %s%v not found", name, labels)
	return v
}

func findMetric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if hasLabels(got, labels) {
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue(), true
				}
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabels(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
