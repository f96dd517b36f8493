// Package workertest runs a worker's loop for a test. Only tests import it.
package workertest

import (
	"context"
	"testing"

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
