package retry_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/retry"
)

func TestBackoffDoublesUpToItsCeilingAndResets(t *testing.T) {
	b := retry.Backoff{Min: time.Second, Max: 5 * time.Second}
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, got)
	b.Reset()
	require.Equal(t, time.Second, b.Next())
}

func TestSleepEndsWithItsContext(t *testing.T) {
	require.True(t, retry.Sleep(context.Background(), time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	require.False(t, retry.Sleep(ctx, time.Hour))
	require.Less(t, time.Since(start), time.Second)
}
