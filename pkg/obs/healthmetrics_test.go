package obs_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
)

func TestMetricsShowTheChecksAsTheyAreAtScrapeTime(t *testing.T) {
	ops := obs.NewOps(zerolog.New(io.Discard))
	var dbDown, stalled atomic.Bool
	ops.AddReadiness("postgres", func(context.Context) error {
		if dbDown.Load() {
			return errors.New("connection refused")
		}
		return nil
	})
	ops.AddLiveness("worker", func(context.Context) error {
		if stalled.Load() {
			return errors.New("no iteration completed")
		}
		return nil
	})
	read := func(name string) float64 {
		t.Helper()
		v, ok := obstest.Metric(t, ops.Registry(), name, nil)
		require.True(t, ok, "%s is exported", name)
		return v
	}

	require.Equal(t, 1.0, read("vpnbot_live"))
	require.Equal(t, 1.0, read("vpnbot_ready"))

	dbDown.Store(true)
	require.Equal(t, 1.0, read("vpnbot_live"), "a dependency down does not make the service dead")
	require.Equal(t, 0.0, read("vpnbot_ready"))

	stalled.Store(true)
	require.Equal(t, 0.0, read("vpnbot_live"))

	dbDown.Store(false)
	stalled.Store(false)
	require.Equal(t, 1.0, read("vpnbot_live"))
	require.Equal(t, 1.0, read("vpnbot_ready"))
}
