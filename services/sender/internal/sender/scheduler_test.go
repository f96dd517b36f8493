package sender

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// allOpen is a dispatcher whose limits both have room.
func allOpen(bool) bool { return true }

func newItem(chatID int64, p vpnbotv1.Priority, seq uint64) *item {
	return &item{cmd: &vpnbotv1.SendMessage{ChatId: chatID}, priority: p, seq: seq}
}

func TestSchedulerPicksUrgentThenOldestAndSpacesEachChat(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := newScheduler(time.Second)
	bc := newItem(1, vpnbotv1.Priority_PRIORITY_BROADCAST, 1)
	rem := newItem(2, vpnbotv1.Priority_PRIORITY_REMINDER, 3)
	older := newItem(3, vpnbotv1.Priority_PRIORITY_REMINDER, 2)
	next := newItem(3, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, 4) // behind chat 3's older message
	for _, it := range []*item{bc, rem, next, older} {
		s.add(it)
	}

	var order []*item
	for range 3 {
		it, _, _ := s.next(now, allOpen)
		require.NotNil(t, it)
		s.start(it)
		s.finish(it, true, now)
		order = append(order, it)
	}
	require.Equal(t, []*item{older, rem, bc}, order, "reminders before the broadcast, oldest first")

	it, wait, _ := s.next(now, allOpen)
	require.Nil(t, it, "chat 3 sent just now: its next message waits")
	require.Equal(t, time.Second, wait)
	it, _, _ = s.next(now.Add(time.Second), allOpen)
	require.Same(t, next, it)
}

func TestSchedulerPausesEverySendWhenManyChatsAreFlooded(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := newScheduler(time.Millisecond)
	s.add(newItem(9, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, 1))
	require.False(t, s.flood(1, 5*time.Second, now), "one chat over its limit is that chat's business")
	require.False(t, s.flood(2, 5*time.Second, now.Add(100*time.Millisecond)))
	require.True(t, s.flood(3, 5*time.Second, now.Add(200*time.Millisecond)), "three chats within a second: bot-wide")
	it, wait, _ := s.next(now.Add(time.Second), allOpen)
	require.Nil(t, it, "chat 9 was not flooded, but every send waits")
	require.Equal(t, 4200*time.Millisecond, wait)
	it, _, _ = s.next(now.Add(5200*time.Millisecond), allOpen)
	require.NotNil(t, it)
}

func TestSchedulerGivesEverythingBackWhenClosed(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := newScheduler(time.Second)
	first := newItem(1, vpnbotv1.Priority_PRIORITY_REMINDER, 1)
	redelivered := newItem(1, vpnbotv1.Priority_PRIORITY_REMINDER, 1)
	other := newItem(2, vpnbotv1.Priority_PRIORITY_BROADCAST, 2)
	for _, it := range []*item{first, other, redelivered} {
		require.True(t, s.add(it))
	}
	it, _, _ := s.next(now, allOpen)
	require.Same(t, first, it, "a redelivery queues behind the first delivery")
	s.start(it)
	s.finish(it, true, now)

	require.ElementsMatch(t, []*item{redelivered, other}, s.close())
	require.Zero(t, s.count())
	late := newItem(3, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, 3)
	require.False(t, s.add(late), "a closed scheduler takes nothing")
	it, _, _ = s.next(now.Add(time.Minute), allOpen)
	require.Nil(t, it)

	s.open()
	require.True(t, s.add(late))
	it, _, _ = s.next(now, allOpen)
	require.Same(t, late, it)
}

// A command whose limit has no room is passed over for one whose limit has,
// and the scheduler says a ready command waits for its limit: one limit's
// wait never holds up the other's sends.
func TestSchedulerPassesOverACommandWhoseLimitIsSpent(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := newScheduler(time.Second)
	free := newItem(1, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, 1)
	paid := newItem(2, vpnbotv1.Priority_PRIORITY_BROADCAST, 2)
	paid.cmd.PaidBroadcast = true
	s.add(free)
	s.add(paid)

	paidOnly := func(p bool) bool { return p }
	it, _, limited := s.next(now, paidOnly)
	require.Same(t, paid, it, "the paid message waited behind the free limit")
	require.False(t, limited)
	s.start(it)

	it, wait, limited := s.next(now, paidOnly)
	require.Nil(t, it)
	require.Zero(t, wait)
	require.True(t, limited, "the free message is ready and waits for its limit only")

	it, _, _ = s.next(now, allOpen)
	require.Same(t, free, it)
}

// A chat that has sent its last command keeps its spacing: a command that
// comes in within the interval waits for it, one after it does not; and the
// chats whose spacing has run out are not kept.
func TestSchedulerKeepsAnEmptiedChatsSpacing(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := newScheduler(time.Second)
	first := newItem(1, vpnbotv1.Priority_PRIORITY_REMINDER, 1)
	s.add(first)
	it, _, _ := s.next(now, allOpen)
	s.start(it)
	s.finish(it, true, now)

	soon := newItem(1, vpnbotv1.Priority_PRIORITY_REMINDER, 2)
	s.add(soon)
	it, wait, _ := s.next(now.Add(300*time.Millisecond), allOpen)
	require.Nil(t, it, "the chat sent 300 ms ago")
	require.Equal(t, 700*time.Millisecond, wait)
	it, _, _ = s.next(now.Add(time.Second), allOpen)
	require.Same(t, soon, it)
	s.start(it)
	s.finish(it, true, now.Add(time.Second))

	later := newItem(1, vpnbotv1.Priority_PRIORITY_REMINDER, 3)
	_, _, _ = s.next(now.Add(3*time.Second), allOpen) // sweeps what has run out
	s.mu.Lock()
	require.Empty(t, s.resting, "a chat whose spacing ran out is kept")
	s.mu.Unlock()
	s.add(later)
	it, _, _ = s.next(now.Add(3*time.Second), allOpen)
	require.Same(t, later, it)
}
