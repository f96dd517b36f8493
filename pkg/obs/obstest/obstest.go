// Package obstest lets a test see what the code under test shows on-call:
// the JSON log lines with their CAPS `event` names, and the metrics. Only
// tests import it.
package obstest

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

// LogBuffer collects log lines (or any line-wise output) for a test to search.
// It is an io.Writer safe for concurrent use: handlers, loops and child
// processes under test write from many goroutines while the test reads.
// Its zero value is ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the non-empty lines written so far that contain all of
// contains, in the order they were written, without their newline.
func (b *LogBuffer) Lines(contains ...string) []string {
	var out []string
	for line := range strings.SplitSeq(b.String(), "\n") {
		if line == "" {
			continue
		}
		ok := true
		for _, s := range contains {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// Events returns the JSON log lines whose `event` field is event, decoded, in
// the order they were written. A line that is not JSON fails t: the buffer is
// meant to hold a logger's output only.
func (b *LogBuffer) Events(t testing.TB, event string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range b.Lines() {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		if m["event"] == event {
			out = append(out, m)
		}
	}
	return out
}

// NewLogger returns a JSON logger writing to b, at debug level, with a
// timestamp and a span's trace_id and span_id, as a service logs with
// LOG_LEVEL=debug. It does without the service and instance fields
// obs.NewLogger adds, which a test that owns b has no use for.
func NewLogger(b *LogBuffer) zerolog.Logger {
	return zerolog.New(b).Level(zerolog.DebugLevel).Hook(obs.SpanFields).With().Timestamp().Logger()
}
