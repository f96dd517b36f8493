package sender

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

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
		it, _ := s.next(now)
		require.NotNil(t, it)
		s.start(it)
		s.finish(it, true, now)
		order = append(order, it)
	}
	require.Equal(t, []*item{older, rem, bc}, order, "reminders before the broadcast, oldest first")

	it, wait := s.next(now)
	require.Nil(t, it, "chat 3 sent just now: its next message waits")
	require.Equal(t, time.Second, wait)
	it, _ = s.next(now.Add(time.Second))
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
	it, wait := s.next(now.Add(time.Second))
	require.Nil(t, it, "chat 9 was not flooded, but every send waits")
	require.Equal(t, 4200*time.Millisecond, wait)
	it, _ = s.next(now.Add(5200 * time.Millisecond))
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
	it, _ := s.next(now)
	require.Same(t, first, it, "a redelivery queues behind the first delivery")
	s.start(it)
	s.finish(it, true, now)

	require.ElementsMatch(t, []*item{redelivered, other}, s.close())
	require.Zero(t, s.count())
	late := newItem(3, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, 3)
	require.False(t, s.add(late), "a closed scheduler takes nothing")
	it, _ = s.next(now.Add(time.Minute))
	require.Nil(t, it)

	s.open()
	require.True(t, s.add(late))
	it, _ = s.next(now)
	require.Same(t, late, it)
}
