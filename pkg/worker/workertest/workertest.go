// Package workertest helps the workers' tests: run a worker's loop, and run
// replicas' iterations side by side. Only tests import it.
package workertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/worker"
)

// Run runs w's loop until the test ends, then stops it and requires that
// it stopped cleanly.
func Run(t testing.TB, w *worker.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// AtOnce runs each of iterations (one replica's iteration each) in a
// goroutine of its own, all released together, and waits for them. It fails
// t unless every two of them were under way at the same time: a test of
// replicas racing proves nothing when one had finished before the other's
// goroutine even began (a busy machine may schedule them so).
func AtOnce(t testing.TB, iterations ...func()) {
	t.Helper()
	windows := make([]window, len(iterations))
	var start, done sync.WaitGroup
	start.Add(1)
	for i, iterate := range iterations {
		done.Go(func() {
			start.Wait()
			windows[i].from = time.Now()
			iterate()
			windows[i].to = time.Now()
		})
	}
	start.Done()
	done.Wait()
	if err := overlapping(windows); err != nil {
		t.Fatal(err)
	}
}

// window is when one iteration was under way.
type window struct{ from, to time.Time }

// overlapping reports two windows that do not overlap.
func overlapping(windows []window) error {
	for i, a := range windows {
		for j, b := range windows[i+1:] {
			if !a.from.Before(b.to) || !b.from.Before(a.to) {
				return fmt.Errorf("iterations %d (%s to %s) and %d (%s to %s) did not run at the same time",
					i, a.from.Format(time.StampMicro), a.to.Format(time.StampMicro),
					i+1+j, b.from.Format(time.StampMicro), b.to.Format(time.StampMicro))
			}
		}
	}
	return nil
}
