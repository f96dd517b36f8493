package sender

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
)

// However many messages of a broadcast ask at once, its state is read from
// the database once per refresh interval; a cancellation shows from the
// next read on, and is final.
func TestABroadcastsStateIsReadOnceARefresh(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	ctx := context.Background()
	var a, b int64
	require.NoError(t, db.Pool.QueryRow(ctx, `INSERT INTO broadcasts (bot_id, update_id, admin_id, segment, text, total)
		VALUES (1, 1, 1, 'all', 'a', 0), (1, 2, 1, 'all', 'b', 0) RETURNING id`).Scan(&a))
	b = a + 1
	var reads atomic.Int64
	st := store{pool: db.Pool}
	c := newCancellations(func(ctx context.Context, id int64) (bool, error) {
		reads.Add(1)
		return st.broadcastCancelled(ctx, id)
	}, time.Second)

	// askAll has 50 goroutines at once ask about each broadcast at now.
	askAll := func(now time.Time) map[int64]bool {
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			got = map[int64]map[bool]int{a: {}, b: {}}
		)
		for i := range 100 {
			id := []int64{a, b}[i%2]
			wg.Go(func() {
				v, err := c.cancelled(ctx, id, now)
				require.NoError(t, err)
				mu.Lock()
				got[id][v]++
				mu.Unlock()
			})
		}
		wg.Wait()
		out := map[int64]bool{}
		for id, answers := range got {
			require.Len(t, answers, 1, "broadcast %d: askers at one moment disagree", id)
			out[id] = answers[true] > 0
		}
		return out
	}

	t0 := time.Now()
	require.Equal(t, map[int64]bool{a: false, b: false}, askAll(t0))
	require.EqualValues(t, 2, reads.Load(), "one read per broadcast")

	_, err := db.Pool.Exec(ctx, "UPDATE broadcasts SET cancelled_at = now() WHERE id = $1", a)
	require.NoError(t, err)
	require.Equal(t, map[int64]bool{a: false, b: false}, askAll(t0.Add(900*time.Millisecond)), "within the refresh, the state read is trusted")
	require.EqualValues(t, 2, reads.Load())
	require.False(t, c.knownCancelled(a))

	require.Equal(t, map[int64]bool{a: true, b: false}, askAll(t0.Add(time.Second)))
	require.EqualValues(t, 4, reads.Load(), "one more read per broadcast after the refresh")
	require.True(t, c.knownCancelled(a))
	require.False(t, c.knownCancelled(b))

	// A cancellation is final: not read again.
	require.Equal(t, map[int64]bool{a: true, b: false}, askAll(t0.Add(3*time.Second)))
	require.EqualValues(t, 5, reads.Load())

	require.True(t, c.firstDrop(a))
	require.False(t, c.firstDrop(a), "logged once")
}
