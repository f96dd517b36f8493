package statefile_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/statefile"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type state struct {
	Counter int64            `json:"counter"`
	Names   map[int64]string `json:"names"`
}

func TestWriteThenReadRoundTrips(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	var got state
	found, err := statefile.Read(path, &got)
	require.NoError(t, err)
	require.False(t, found, "a missing file is a first start")

	want := state{Counter: 41, Names: map[int64]string{7: "seven"}}
	require.NoError(t, statefile.Write(path, want))
	found, err = statefile.Read(path, &got)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, want, got)

	want.Counter++
	require.NoError(t, statefile.Write(path, want))
	found, err = statefile.Read(path, &got)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, int64(42), got.Counter)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "a temporary file was left beside the state")
}

func TestReadRefusesAnUnreadableFileAndWriteFailureKeepsTheOld(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, statefile.Write(path, state{Counter: 5}))

	err := statefile.Write(path, map[string]any{"bad": make(chan int)})
	require.Error(t, err)
	var kept state
	_, err = statefile.Read(path, &kept)
	require.NoError(t, err)
	require.Equal(t, int64(5), kept.Counter, "a failed write replaced the file")

	require.NoError(t, os.WriteFile(path, []byte(`{"counter": 6,`), 0o600))
	found, err := statefile.Read(path, &kept)
	require.ErrorContains(t, err, path)
	require.False(t, found)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, `{"counter": 6,`, string(b), "the unreadable file was touched")
}

// snapshots is a state that changes, with a snapshot function for a Saver.
type snapshots struct {
	mu    sync.Mutex
	value int64
	taken int
}

func (s *snapshots) set(v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.value = v
}

func (s *snapshots) snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taken++
	return json.Marshal(state{Counter: s.value})
}

func counterIn(t *testing.T, path string) int64 {
	t.Helper()
	var st state
	if found, err := statefile.Read(path, &st); err != nil || !found {
		return -1
	}
	return st.Counter
}

func TestSaverWritesBehindTheChangesAndAtClose(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	src := &snapshots{}
	const interval = 50 * time.Millisecond
	saver := statefile.NewSaver(path, interval, src.snapshot, zerolog.Nop())

	src.set(1)
	saver.Changed()
	require.Eventually(t, func() bool { return counterIn(t, path) == 1 }, 5*time.Second, 5*time.Millisecond)

	// A burst of changes is written at most once an interval, and the last
	// one is on disk within it.
	start := time.Now()
	for v := int64(2); v <= 20; v++ {
		src.set(v)
		saver.Changed()
	}
	require.Eventually(t, func() bool { return counterIn(t, path) == 20 }, 5*time.Second, 5*time.Millisecond)
	src.mu.Lock()
	taken := src.taken
	src.mu.Unlock()
	require.LessOrEqual(t, taken, 2+int(time.Since(start)/interval)+1, "the saver wrote on every change")

	// A change not yet written is written by Close.
	src.set(21)
	require.NoError(t, saver.Close())
	require.Equal(t, int64(21), counterIn(t, path))
	require.NoError(t, saver.Close(), "closing again")
}
