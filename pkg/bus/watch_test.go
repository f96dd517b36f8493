package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
)

// watchEvery is the watchers' interval in tests.
const watchEvery = 20 * time.Millisecond

// runWatch runs fn until the test ends, then checks that it returned nil.
func runWatch(t *testing.T, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("the watcher did not return after cancel")
		}
	})
}

func TestWatchDLQCountsDeadLettersPerStreamUntilReplayed(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	reg := prometheus.NewRegistry()
	_, log := newLog()
	runWatch(t, func(ctx context.Context) error {
		return bus.WatchDLQ(ctx, js, []string{testStream, "OUTBOX"}, watchEvery, reg, log)
	})
	tests := map[string]string{"stream": testStream}
	requireMetric(t, reg, "vpnbot_dlq_messages", tests, 0)
	requireMetric(t, reg, "vpnbot_dlq_messages", map[string]string{"stream": "OUTBOX"}, 0)

	startConsumer(t, js, fastConfig(2), func(_ context.Context, d bus.Delivery) error {
		if !strings.Contains(d.MsgID, ":replay:") {
			return bus.Permanent(errors.New("plan not found"))
		}
		return nil
	}, log, nil)
	publish(t, js, 0, "x", "bot1:1")
	publish(t, js, 1, "y", "bot1:2")
	requireMetric(t, reg, "vpnbot_dlq_messages", tests, 2)

	for _, e := range listDLQ(t, js) {
		require.NoError(t, bus.ReplayDLQ(context.Background(), js, e.Seq))
	}
	requireMetric(t, reg, "vpnbot_dlq_messages", tests, 0)
}
