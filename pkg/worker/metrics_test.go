package worker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// The "no success for N intervals" alert divides the age of the last success
// by each worker's own interval, so every worker exports it from the start.
func TestEveryWorkerExportsItsInterval(t *testing.T) {
	reg := prometheus.NewRegistry()
	noop := func(context.Context) (worker.Result, error) { return nil, nil }
	for name, every := range map[string]time.Duration{"reminders": time.Minute, "activation": 5 * time.Second} {
		_, err := worker.New(worker.Config{Name: name, Interval: every}, noop, obstest.NewLogger(&obstest.LogBuffer{}), reg)
		require.NoError(t, err)
	}
	for name, want := range map[string]float64{"reminders": 60, "activation": 5} {
		v, ok := obstest.Metric(t, reg, "vpnbot_worker_interval_seconds", map[string]string{"worker": name})
		require.True(t, ok, "%s exports its interval", name)
		require.Equal(t, want, v, name)
	}
}

// An item an iteration reports at 0 is exported at 0, so a dashboard's
// rate() of it starts from the first iteration instead of the first item.
func TestItemsReportedAtZeroAreExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	iterate := func(context.Context) (worker.Result, error) { return worker.Result{"sent": 0, "skipped": 2}, nil }
	w, err := worker.New(worker.Config{Name: "reminders", Interval: time.Hour}, iterate, obstest.NewLogger(&obstest.LogBuffer{}), reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	require.Eventually(t, func() bool {
		v, ok := obstest.Metric(t, reg, "vpnbot_worker_items_total", map[string]string{"worker": "reminders", "item": "skipped"})
		return ok && v == 2
	}, waitFor, poll, "the first iteration's items")
	v, ok := obstest.Metric(t, reg, "vpnbot_worker_items_total", map[string]string{"worker": "reminders", "item": "sent"})
	require.True(t, ok, "an item reported at 0 has its series")
	require.Zero(t, v)
}

// The items counter sums every iteration's findings; the last iteration's
// own stand beside it, so "pending" can be read as what is pending now. An
// item the last iteration did not report reads 0, not an older value.
func TestTheLastIterationsItemsAreExportedBesideTheirTotals(t *testing.T) {
	reg := prometheus.NewRegistry()
	results := []worker.Result{{"pending": 3, "expired": 1}, {"pending": 2}}
	var calls atomic.Int32
	iterate := func(context.Context) (worker.Result, error) {
		n := int(calls.Add(1)) - 1
		return results[min(n, len(results)-1)], nil
	}
	w, err := worker.New(worker.Config{Name: "payment-watcher", Interval: 20 * time.Millisecond}, iterate, obstest.NewLogger(&obstest.LogBuffer{}), reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	require.Eventually(t, func() bool { return calls.Load() >= 3 }, waitFor, poll, "three iterations")
	cancel()
	require.NoError(t, <-done)

	series := func(name, item string) float64 {
		t.Helper()
		v, ok := obstest.Metric(t, reg, name, map[string]string{"worker": "payment-watcher", "item": item})
		require.True(t, ok, "%s{item=%q}", name, item)
		return v
	}
	n := float64(calls.Load())
	require.Equal(t, 3+2*(n-1), series("vpnbot_worker_items_total", "pending"), "the total of every iteration's")
	require.Equal(t, 2.0, series("vpnbot_worker_last_iteration_items", "pending"), "the last iteration's own")
	require.Equal(t, 1.0, series("vpnbot_worker_items_total", "expired"))
	require.Zero(t, series("vpnbot_worker_last_iteration_items", "expired"), "not reported by the last iteration")
}
