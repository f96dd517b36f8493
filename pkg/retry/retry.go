// Package retry is how the services wait between attempts at something that
// fails for a while — a dependency not up yet, an outside API refusing: a
// delay that doubles up to a ceiling, and a sleep that ends early when the
// caller's context does.
package retry

import (
	"context"
	"time"
)

// Backoff is a delay doubling from Min up to Max. The zero value of its
// state is ready to use: the first Next returns Min.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the delay before the next attempt.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(2*b.cur, b.Max)
	}
	return b.cur
}

// Reset starts the doubling over, after a success.
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits for d, reporting false when ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
