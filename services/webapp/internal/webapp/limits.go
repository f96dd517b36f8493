package webapp

import (
	"container/list"
	"sync"

	"golang.org/x/time/rate"
)

// maxLimited is how many addresses or users a limiter keeps buckets for:
// the least recently seen is forgotten first, so a flood of addresses
// costs bounded memory (a forgotten one starts again with a full burst).
const maxLimited = 10_000

// limiter is a token bucket per key (an address, a user), for the
// most recently seen maxLimited keys.
type limiter struct {
	limit rate.Limit
	burst int
	max   int

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	order   *list.List               // most recently used first
}

type bucket struct {
	key string
	l   *rate.Limiter
}

func newLimiter(perSecond float64, burst, max int) *limiter {
	return &limiter{limit: rate.Limit(perSecond), burst: burst, max: max, buckets: map[string]*list.Element{}, order: list.New()}
}

// allow reports whether key may make a request now.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.buckets[key]; ok {
		l.order.MoveToFront(e)
		return e.Value.(*bucket).l.Allow()
	}
	if l.order.Len() >= l.max {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.buckets, oldest.Value.(*bucket).key)
	}
	b := &bucket{key: key, l: rate.NewLimiter(l.limit, l.burst)}
	l.buckets[key] = l.order.PushFront(b)
	return b.l.Allow()
}

// size is how many keys the limiter keeps.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}
