package sender

import (
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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

// item is one command held by the scheduler until it is acknowledged,
// dead-lettered or given back.
type item struct {
	msg      jetstream.Msg
	cmd      *vpnbotv1.SendMessage
	priority vpnbotv1.Priority
	// seq is the stream sequence: the order commands were published in,
	// across priorities, since they share the OUTBOX stream.
	seq      uint64
	attempts int // failed attempts (5xx, network) so far
	// deadLetter, once set, is why the command is to be dead-lettered: the
	// next attempt does that instead of calling Telegram (the DLQ publish
	// failed before).
	deadLetter *deadLetter
}

type deadLetter struct {
	reason, err string
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
// oldest (lowest stream sequence). It is safe for concurrent use.
type scheduler struct {
	chatInterval time.Duration

	mu          sync.Mutex
	chats       map[int64]*chatQueue
	held        int
	pausedUntil time.Time           // a bot-wide 429
	recent429   map[int64]time.Time // chat → its last 429, within globalFloodWindow
	wake        chan struct{}       // poked when the choice may have changed
}

func newScheduler(chatInterval time.Duration) *scheduler {
	return &scheduler{
		chatInterval: chatInterval,
		chats:        map[int64]*chatQueue{},
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

// add queues it in its chat's place by stream sequence. A redelivery of a
// command already held (its ack deadline passed) replaces the old delivery,
// whose ack would no longer count.
func (s *scheduler) add(it *item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	chatID := it.cmd.GetChatId()
	q, ok := s.chats[chatID]
	if !ok {
		q = &chatQueue{}
		s.chats[chatID] = q
	}
	i, found := slices.BinarySearchFunc(q.items, it.seq, func(x *item, seq uint64) int {
		switch {
		case x.seq < seq:
			return -1
		case x.seq > seq:
			return 1
		}
		return 0
	})
	if found {
		// The head may be in flight: keep its bookkeeping, take the new
		// delivery's ack handle.
		q.items[i].msg = it.msg
		return
	}
	q.items = slices.Insert(q.items, i, it)
	s.held++
	s.poke()
}

// next returns the command to attempt now, or nil and how long until one may
// be ready (a chat's notBefore, or the end of a global pause; 0 when nothing
// is held).
func (s *scheduler) next(now time.Time) (*item, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.pausedUntil) {
		return nil, s.pausedUntil.Sub(now)
	}
	var (
		best *item
		wait time.Duration
	)
	for chatID, q := range s.chats {
		if !q.busy && len(q.items) == 0 && !q.notBefore.After(now) {
			delete(s.chats, chatID) // kept only while its rate limit still applies
			continue
		}
		if q.busy || len(q.items) == 0 {
			continue
		}
		if d := q.notBefore.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		h := q.items[0]
		if best == nil || h.priority < best.priority || (h.priority == best.priority && h.seq < best.seq) {
			best = h
		}
	}
	if best != nil {
		return best, 0
	}
	return nil, wait
}

// start marks its chat busy, if it is still the chat's ready head; the
// caller took a rate-limit token in between next and start, during which
// nothing else starts (one dispatcher), so it is.
func (s *scheduler) start(it *item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chats[it.cmd.GetChatId()].busy = true
}

// finish ends an attempt at it, which is done with (acknowledged or
// dead-lettered). called says whether Telegram was called, so the chat's
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
	if len(q.items) == 0 && !q.notBefore.After(now) {
		delete(s.chats, chatID)
	}
	s.poke()
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

// msgs returns the delivery of every held command, in flight or not.
func (s *scheduler) msgs() []jetstream.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]jetstream.Msg, 0, s.held)
	for _, q := range s.chats {
		for _, it := range q.items {
			out = append(out, it.msg)
		}
	}
	return out
}

// handle is its current delivery, to settle it with: a redelivery may have
// replaced the one it was fetched with.
func (s *scheduler) handle(it *item) jetstream.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return it.msg
}
