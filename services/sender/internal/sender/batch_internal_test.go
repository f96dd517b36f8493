package sender

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Concurrent requests share round trips, and each caller gets its own
// answer, or the batch's error.
func TestABatcherAnswersEachCallerFromSharedRoundTrips(t *testing.T) {
	t.Parallel()
	var trips atomic.Int64
	b := newBatcher(time.Second, func(_ context.Context, reqs []int) ([]int, error) {
		trips.Add(1)
		time.Sleep(5 * time.Millisecond) // a round trip, during which others queue
		out := make([]int, len(reqs))
		for i, r := range reqs {
			if r < 0 {
				return nil, errors.New("refused")
			}
			out[i] = r * 2
		}
		return out, nil
	})
	ctx, stop := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { b.run(ctx) })
	defer func() { stop(); running.Wait() }()

	const callers = 400
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			got, err := b.do(context.Background(), i)
			require.NoError(t, err)
			require.Equal(t, i*2, got)
		})
	}
	wg.Wait()
	require.Less(t, trips.Load(), int64(callers/4), "the requests were not batched")

	_, err := b.do(context.Background(), -1)
	require.ErrorContains(t, err, "refused")

	// A caller whose context ends is not left waiting.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = b.do(gone, 1)
	require.ErrorIs(t, err, context.Canceled)
}
