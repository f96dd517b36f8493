package sender_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/outbox"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/sender/internal/sender"
)

// newBroadcast adds a broadcast row and returns its id.
func (e *env) newBroadcast(t testing.TB, updateID int64) int64 {
	t.Helper()
	var id int64
	require.NoError(t, e.db.Pool.QueryRow(context.Background(), `INSERT INTO broadcasts
		(bot_id, update_id, admin_id, segment, text, total) VALUES (1, $1, 1, 'all', 'news', 0) RETURNING id`,
		updateID).Scan(&id))
	return id
}

func broadcastCmd(broadcastID, chatID int64, text string) *vpnbotv1.SendMessage {
	m := cmd(chatID, text, broadcast)
	m.BroadcastId = broadcastID
	return m
}

// Once an admin cancels a broadcast, its messages still queued are
// acknowledged unsent, counted and logged once, without waiting their turn
// in the rate limit; another broadcast, published after it, goes on and is
// not held up behind the dropped ones.
func TestCancelledBroadcastsRestIsDroppedAndAcknowledged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	cancelled, other := e.newBroadcast(t, 1), e.newBroadcast(t, 2)
	const n, m = 60, 10
	for c := range int64(n) {
		e.publish(t, broadcastCmd(cancelled, 40_000+c, "cancelled news"))
	}
	for c := range int64(m) {
		e.publish(t, broadcastCmd(other, 41_000+c, "other news"))
	}
	in := e.start(t, fastConfig(5, 4))

	require.Eventually(t, func() bool { return len(e.rec.sent()) >= 3 }, 15*time.Second, 10*time.Millisecond)
	_, err := e.db.Pool.Exec(context.Background(), "UPDATE broadcasts SET cancelled_at = now() WHERE id = $1", cancelled)
	require.NoError(t, err)
	sentAtCancel := len(e.rec.sent())

	want := map[int64]int{}
	for c := range int64(m) {
		want[41_000+c] = 1
	}
	// Were the dropped messages to wait for the rate's tokens, the other
	// broadcast would come after (n - sentAtCancel) / 5 seconds, ~11 s.
	e.waitDelivered(t, want, 8*time.Second)
	require.Eventually(t, func() bool {
		return in.sends(t, "sent")+in.sends(t, "cancelled") == n+m
	}, 10*time.Second, 20*time.Millisecond)

	dropped := int(in.sends(t, "cancelled"))
	// Within the second the cancellation takes to be read, at 5 a second,
	// a few more may go.
	require.GreaterOrEqual(t, dropped, n-sentAtCancel-10, "the cancellation stopped too few")
	sentOfCancelled := 0
	for c := range int64(n) {
		sentOfCancelled += len(e.sb.Messages(40_000 + c))
	}
	require.Equal(t, n, sentOfCancelled+dropped, "every message of the cancelled broadcast was sent or dropped, once")
	for chat := range want {
		require.Equal(t, []string{"other news"}, e.texts(chat))
	}

	events := in.logs.Events(t, sender.EventBroadcastCancelled)
	require.Len(t, events, 1, "logged once per broadcast")
	require.EqualValues(t, cancelled, events[0]["broadcast_id"])

	// Dropped is acknowledged: nothing waits for redelivery.
	info, err := e.js.Consumer(context.Background(), outbox.Stream, sender.Durable(broadcast))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ci, err := info.Info(context.Background())
		require.NoError(t, err)
		return ci.NumAckPending == 0 && ci.NumPending == 0
	}, 10*time.Second, 50*time.Millisecond, "the dropped messages were not acknowledged")
	require.Zero(t, e.sb.Stats().TooManyRequests)
	require.Zero(t, in.sends(t, "dlq"))
}
