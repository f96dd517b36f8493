package obstest_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
)

// TestLogBufferKeepsEveryLineOfConcurrentLoggers is run with -race by make
// test: the buffer is written by many goroutines while it is read.
func TestLogBufferKeepsEveryLineOfConcurrentLoggers(t *testing.T) {
	t.Parallel()
	var logs obstest.LogBuffer
	log := obstest.NewLogger(&logs)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				log.Debug().Str("event", "TICK").Int("writer", i).Msg("tick")
				_ = logs.Lines("TICK")
			}
		})
	}
	log.Info().Str("event", "DONE").Str("why", "all writers started").Msg("done")
	wg.Wait()

	require.Len(t, logs.Lines(`"event":"TICK"`), 8*50, "a debug line was lost or torn")
	require.Len(t, logs.Lines(`"event":"TICK"`, `"writer":3,`), 50)
	require.Empty(t, logs.Lines("TICK", "DONE"), "Lines wants every part on the same line")
	done := logs.Events(t, "DONE")
	require.Len(t, done, 1)
	require.Equal(t, "info", done[0]["level"])
	require.Equal(t, "all writers started", done[0]["why"])
	require.NotEmpty(t, done[0]["time"], "lines carry a timestamp, as a service's do")
	require.Empty(t, logs.Events(t, "TIC"), "Events matches the whole event name")
}
