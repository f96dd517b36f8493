package sender

import (
	"slices"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// globalFloodChats is how many distinct chats answered 429 within
// globalFloodWindow when the sender takes it for Telegram's bot-wide limit
// and pauses every send: Telegram's 429 does not say which limit was hit,
// and one chat over its own limit must not stall the others.
const (
	globalFloodChats  = 3
	globalFloodWindow = time.Second
)

// item is one command held by the scheduler until it is settled.
type item struct {
	cmd      *vpnbotv1.SendMessage
	priority vpnbotv1.Priority
	// seq is the stream sequence: the order commands were published in,
	// across priorities, since they share the OUTBOX stream.
	seq      uint64
	attempts int // failed attempts (5xx, network) so far
	// settleFunc settles the command's delivery with its consumer, once.
	settleFunc func(error)
	// trace is the delivery's consumer span, open until it is settled: the
	// attempts' queries and Telegram calls are its children.
	trace trace.SpanContext
}

// chatQueue holds one chat's commands in publish order.
type chatQueue struct {
	items []*item
	// busy while an attempt for the head is in flight: never two sends to
	// one chat at once.
	busy bool
	// notBefore is when the chat's next attempt may start: its rate limit,
	// a retry_after, or a retry delay.
	notBefore time.Time
}

// scheduler holds fetched commands and decides which goes next: among the
// chats that may send now, the head of higher priority first, then the
// oldest (lowest stream sequence). It takes commands until closed at the end
// of a leadership term, and again once opened for the next. It is safe for
// concurrent use.
type scheduler struct {
	chatInterval time.Duration

	mu sync.Mutex
	// chats are the chats with commands held or an attempt in flight; next
	// looks through them all, so a chat that has sent its last command
	// moves to resting while its rate limit still applies: at a thousand
	// sends a second, those would be most of the map.
	chats       map[int64]*chatQueue
	resting     map[int64]time.Time // chat → when its next send may start
	lastSweep   time.Time           // of resting's past entries
	held        int
	closed      bool
	pausedUntil time.Time           // a bot-wide 429
	recent429   map[int64]time.Time // chat → its last 429, within globalFloodWindow
	wake        chan struct{}       // poked when the choice may have changed
}

func newScheduler(chatInterval time.Duration) *scheduler {
	return &scheduler{
		chatInterval: chatInterval,
		chats:        map[int64]*chatQueue{},
		resting:      map[int64]time.Time{},
		recent429:    map[int64]time.Time{},
		wake:         make(chan struct{}, 1),
	}
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// add queues it in its chat's place by stream sequence, and reports whether
// it did: a closed scheduler takes nothing. A redelivery of a command already
// held (its ack deadline passed) queues right behind the first delivery:
// each delivery is settled on its own, and once one is sent the sent-log
// makes the other a duplicate.
func (s *scheduler) add(it *item) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	chatID := it.cmd.GetChatId()
	q, ok := s.chats[chatID]
	if !ok {
		q = &chatQueue{notBefore: s.resting[chatID]}
		delete(s.resting, chatID)
		s.chats[chatID] = q
	}
	i := sort.Search(len(q.items), func(i int) bool { return q.items[i].seq > it.seq })
	q.items = slices.Insert(q.items, i, it)
	s.held++
	s.poke()
	return true
}

// open makes the scheduler take commands.
func (s *scheduler) open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = false
}

// close stops the scheduler taking commands and removes and returns every
// one it holds; none may be in an attempt.
func (s *scheduler) close() []*item {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	out := make([]*item, 0, s.held)
	for _, q := range s.chats {
		out = append(out, q.items...)
		q.items = nil
	}
	s.held = 0
	return out
}

// next returns the command to attempt now among those whose limit has room
// (open says, for paid broadcasts' messages or the others), or nil and how
// long until one may be ready (a chat's notBefore, or the end of a global
// pause; 0 when nothing is held), and whether a ready command waits for its
// limit.
func (s *scheduler) next(now time.Time, open func(paid bool) bool) (it *item, wait time.Duration, limited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.pausedUntil) {
		return nil, s.pausedUntil.Sub(now), false
	}
	var best *item
	openPaid, openFree := open(true), open(false)
	if now.Sub(s.lastSweep) >= time.Second {
		for chatID, t := range s.resting {
			if !t.After(now) {
				delete(s.resting, chatID)
			}
		}
		s.lastSweep = now
	}
	for chatID, q := range s.chats {
		if !q.busy && len(q.items) == 0 {
			s.rest(chatID, q, now) // its commands were given back
			continue
		}
		if q.busy {
			continue
		}
		if d := q.notBefore.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		h := q.items[0]
		if paid := h.cmd.GetPaidBroadcast(); (paid && !openPaid) || (!paid && !openFree) {
			limited = true
			continue
		}
		if best == nil || h.priority < best.priority || (h.priority == best.priority && h.seq < best.seq) {
			best = h
		}
	}
	if best != nil {
		return best, 0, false
	}
	return nil, wait, limited
}

// start marks its chat busy; it is its chat's ready head, as next returned
// it to the one dispatcher, which starts it at once.
func (s *scheduler) start(it *item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chats[it.cmd.GetChatId()].busy = true
}

// finish ends an attempt at it, which is done with: its delivery is to be
// settled. called says whether Telegram was called, so the chat's
// rate limit applies to its next send.
func (s *scheduler) finish(it *item, called bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	chatID := it.cmd.GetChatId()
	q := s.chats[chatID]
	q.busy = false
	q.items = slices.DeleteFunc(q.items, func(x *item) bool { return x == it })
	s.held--
	if called {
		q.notBefore = now.Add(s.chatInterval)
	}
	if len(q.items) == 0 {
		s.rest(chatID, q, now)
	}
	s.poke()
}

// rest removes chatID, which has nothing to send, from the chats, keeping
// when its next send may start while that is still to come.
func (s *scheduler) rest(chatID int64, q *chatQueue, now time.Time) {
	delete(s.chats, chatID)
	if q.notBefore.After(now) {
		s.resting[chatID] = q.notBefore
	}
}

// retry ends an attempt at it, which stays at its chat's head; the chat
// waits d before its next attempt.
func (s *scheduler) retry(it *item, d time.Duration, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.chats[it.cmd.GetChatId()]
	q.busy = false
	q.notBefore = now.Add(max(d, s.chatInterval))
	s.poke()
}

// flood records a 429 for chatID and reports whether it looks bot-wide:
// then every send waits retryAfter.
func (s *scheduler) flood(chatID int64, retryAfter time.Duration, now time.Time) (global bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recent429[chatID] = now
	for c, t := range s.recent429 {
		if now.Sub(t) > globalFloodWindow {
			delete(s.recent429, c)
		}
	}
	if len(s.recent429) < globalFloodChats {
		return false
	}
	if until := now.Add(retryAfter); until.After(s.pausedUntil) {
		s.pausedUntil = until
	}
	return true
}

// count is how many commands are held.
func (s *scheduler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}
