package obs

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Heartbeat records when a loop last made progress. Its Check fails when the
// last beat is older than the allowed age, which is what /livez reports.
type Heartbeat struct {
	maxAge  time.Duration
	last    atomic.Int64 // unix nanoseconds
	nowFunc func() time.Time
}

// NewHeartbeat returns a heartbeat that counts as beaten now, so a service
// has maxAge to make its first progress.
func NewHeartbeat(maxAge time.Duration) *Heartbeat {
	h := &Heartbeat{maxAge: maxAge, nowFunc: time.Now}
	h.Beat()
	return h
}

// Beat records progress.
func (h *Heartbeat) Beat() { h.last.Store(h.nowFunc().UnixNano()) }

// Last is the time of the last beat.
func (h *Heartbeat) Last() time.Time { return time.Unix(0, h.last.Load()) }

// Check fails when the last beat is older than the allowed age.
func (h *Heartbeat) Check(context.Context) error {
	if age := h.nowFunc().Sub(h.Last()); age > h.maxAge {
		return fmt.Errorf("no progress for %s (allowed %s)", age.Round(time.Millisecond), h.maxAge)
	}
	return nil
}
