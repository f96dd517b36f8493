// Package clocktest is a clock a test moves by hand, for the NowFunc of
// the code under test. It is safe for concurrent use: the code reads it
// from its own goroutines while the test moves it.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a time that moves only when told. Make it with New.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock standing at at.
func New(at time.Time) *Clock { return &Clock{now: at} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set puts the clock at at.
func (c *Clock) Set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
}
