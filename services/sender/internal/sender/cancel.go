package sender

import (
	"context"
	"sync"
	"time"
)

// Cancelled broadcasts' states are forgotten this long after they were last
// read, so the map does not grow with every broadcast ever sent.
const forgetBroadcastAfter = 10 * time.Minute

// cancellations tells whether an admin cancelled a broadcast
// (broadcasts.cancelled_at), reading each broadcast's state from the
// database at most once per refresh interval, whatever the number of its
// messages in flight: a broadcast to 20,000 chats costs a query a second,
// not one a message. A cancellation is final, so once seen it is not read
// again.
type cancellations struct {
	// readFunc reads whether a broadcast is cancelled (store.broadcastCancelled).
	readFunc func(ctx context.Context, id int64) (bool, error)
	refresh  time.Duration

	mu    sync.Mutex
	known map[int64]*broadcastState
}

// broadcastState is what the sender knows of one broadcast.
type broadcastState struct {
	// reading is held while the state is read, so concurrent askers wait
	// for that one query instead of making their own.
	reading   sync.Mutex
	read      time.Time // when it was last read; guarded by cancellations.mu, as the rest
	cancelled bool
	logged    bool // its first dropped message was logged
}

func newCancellations(readFunc func(ctx context.Context, id int64) (bool, error), refresh time.Duration) *cancellations {
	return &cancellations{readFunc: readFunc, refresh: refresh, known: map[int64]*broadcastState{}}
}

// knownCancelled reports whether broadcast id is known to be cancelled, without
// asking the database.
func (c *cancellations) knownCancelled(id int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.known[id]
	return b != nil && b.cancelled
}

// cancelled reports whether broadcast id is cancelled, as the database said
// it within the refresh interval before now.
func (c *cancellations) cancelled(ctx context.Context, id int64, now time.Time) (bool, error) {
	b, fresh, cancelled := c.lookup(id, now)
	if fresh {
		return cancelled, nil
	}
	b.reading.Lock()
	defer b.reading.Unlock()
	if _, fresh, cancelled := c.lookup(id, now); fresh {
		return cancelled, nil // read by another asker meanwhile
	}
	cancelled, err := c.readFunc(ctx, id)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b.read, b.cancelled = now, cancelled
	return cancelled, nil
}

// lookup returns broadcast id's state, adding it when new, and whether it
// is fresh enough to answer from.
func (c *cancellations) lookup(id int64, now time.Time) (b *broadcastState, fresh, cancelled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.known[id]
	if !ok {
		for other, s := range c.known {
			if !s.read.IsZero() && now.Sub(s.read) > forgetBroadcastAfter {
				delete(c.known, other)
			}
		}
		b = &broadcastState{}
		c.known[id] = b
	}
	return b, b.cancelled || (!b.read.IsZero() && now.Sub(b.read) < c.refresh), b.cancelled
}

// firstDrop reports whether a dropped message of broadcast id is its first
// since the sender learnt of the cancellation, so it is logged once.
func (c *cancellations) firstDrop(id int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.known[id]
	if b == nil || b.logged {
		return false
	}
	b.logged = true
	return true
}
