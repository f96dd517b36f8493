package worker_test

import (
	"context"
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
