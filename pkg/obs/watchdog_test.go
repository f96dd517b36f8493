package obs_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

func TestWatchdogExitsOnlyAfterLivenessFailedLongEnough(t *testing.T) {
	var logs bytes.Buffer
	log, err := obs.NewLogger(&logs, "test", "i1", "info")
	require.NoError(t, err)
	ops := obs.NewOps(log)
	var stuck atomic.Bool
	ops.AddLiveness("loop", func(context.Context) error {
		if stuck.Load() {
			return errors.New("no progress")
		}
		return nil
	})
	exited := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ops.Watchdog(ctx, 200*time.Millisecond, 20*time.Millisecond, func(code int) { exited <- code })
	}()

	select {
	case <-exited:
		t.Fatal("exited while live")
	case <-time.After(300 * time.Millisecond):
	}
	stuck.Store(true)
	start := time.Now()
	select {
	case code := <-exited:
		require.Equal(t, 1, code)
		require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "exited before exitAfter")
	case <-time.After(5 * time.Second):
		t.Fatal("did not exit while stuck")
	}
	<-done
	require.Contains(t, logs.String(), obs.EventWatchdogExit)
}

func TestWatchdogStopsWithItsContext(t *testing.T) {
	ops := obs.NewOps(zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ops.Watchdog(ctx, time.Second, 10*time.Millisecond, func(int) { t.Error("exit called") })
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watchdog did not stop")
	}
}
