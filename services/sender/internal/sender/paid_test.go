package sender_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

func paidCmd(chatID int64, text string) *vpnbotv1.SendMessage {
	m := cmd(chatID, text, broadcast)
	m.PaidBroadcast = true
	return m
}

// A paid broadcast goes with allow_paid_broadcast, well past SENDER_RATE
// and without touching the bot-wide budget the replies need, while each
// chat still gets one message a second.
func TestPaidBroadcastGoesPastTheFreeRateButKeepsEachChatsPace(t *testing.T) {
	t.Parallel()
	// Telegram's own limits: 30/s free, 1,000/s paid, 1/s per chat.
	e := newEnv(t, sandboxtg.Config{ChatRate: 1, ChatBurst: 2})
	e.withPacer(t, chatpace.DefaultSettings())
	const chats, freeRate = 200, 10
	for c := range int64(chats) {
		e.publish(t, paidCmd(10_000+c, "news"))
	}
	const busy = 20_000
	for i := range 3 {
		e.publish(t, paidCmd(busy, fmt.Sprint("part ", i)))
	}
	in := e.start(t, fastConfig(freeRate, 1))

	want := map[int64]int{busy: 3}
	for c := range int64(chats) {
		want[10_000+c] = 1
	}
	e.waitDelivered(t, want, 30*time.Second)

	var first, last time.Time
	for c := range int64(chats) {
		calls := e.rec.of(10_000 + c)
		require.Len(t, calls, 1, "chat %d", 10_000+c)
		require.True(t, calls[0].paid, "chat %d: sent without allow_paid_broadcast", 10_000+c)
		if first.IsZero() || calls[0].start.Before(first) {
			first = calls[0].start
		}
		if calls[0].start.After(last) {
			last = calls[0].start
		}
	}
	rate := float64(chats-1) / last.Sub(first).Seconds()
	require.Greater(t, rate, 3.0*freeRate, "the paid broadcast was held to SENDER_RATE (%.1f/s)", rate)

	busyCalls := e.rec.of(busy)
	require.Len(t, busyCalls, 3)
	for i := 1; i < len(busyCalls); i++ {
		require.GreaterOrEqual(t, busyCalls[i].start.Sub(busyCalls[i-1].start), 900*time.Millisecond,
			"paid messages to one chat went faster than one a second")
	}
	require.Equal(t, []string{"part 0", "part 1", "part 2"}, e.texts(busy))

	st := e.sb.Stats()
	require.Zero(t, st.TooManyRequests, "floods: %v", e.sb.Floods())
	require.Equal(t, chats+3, st.PaidBroadcasts, "every paid message reached Telegram as one")
	require.Eventually(t, func() bool { return in.sends(t, "sent") == chats+3 }, 10*time.Second, 20*time.Millisecond)
	var botRows, chatRows int
	require.NoError(t, e.db.Pool.QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE chat_id = 0), count(*) FILTER (WHERE chat_id <> 0) FROM telegram_chat_pace`).Scan(&botRows, &chatRows))
	require.Zero(t, botRows, "paid messages took from the bot-wide budget")
	require.Equal(t, chats+1, chatRows, "each chat's budget was taken")
}

// A free message goes without allow_paid_broadcast and takes the bot-wide
// budget: the flag is the command's, not the sender's.
func TestAFreeMessageIsNotSentAsPaid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	e.withPacer(t, chatpace.DefaultSettings())
	e.start(t, fastConfig(50, 4))
	e.publish(t, cmd(30_001, "free", broadcast))
	e.publish(t, paidCmd(30_002, "paid"))
	e.waitDelivered(t, map[int64]int{30_001: 1, 30_002: 1}, 10*time.Second)
	require.False(t, e.rec.of(30_001)[0].paid)
	require.True(t, e.rec.of(30_002)[0].paid)
	require.False(t, e.sb.Messages(30_001)[0].PaidBroadcast)
	require.True(t, e.sb.Messages(30_002)[0].PaidBroadcast)
	var botRows int
	require.NoError(t, e.db.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM telegram_chat_pace WHERE chat_id = 0`).Scan(&botRows))
	require.Equal(t, 1, botRows, "the free message took the bot-wide budget")
	require.Equal(t, http.StatusOK, e.rec.of(30_001)[0].status)
}

// A broadcast's picture is the photo the admin sent the bot: photo_url
// carries its file_id, which goes to sendPhoto as its photo, and the
// recipients see the admin's picture.
func TestAPhotoByFileIDReachesTheChats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	var img bytes.Buffer
	require.NoError(t, png.Encode(&img, image.NewGray(image.Rect(0, 0, 32, 16))))
	const admin = 50_000
	_, fileID, err := e.sb.SendPhoto(admin, img.Bytes(), "")
	require.NoError(t, err)

	e.start(t, fastConfig(50, 4))
	for _, chat := range []int64{50_001, 50_002} {
		m := paidCmd(chat, "<b>Spring sale</b>")
		m.ParseMode, m.PhotoUrl = "HTML", fileID
		e.publish(t, m)
	}
	e.waitDelivered(t, map[int64]int{50_001: 1, 50_002: 1}, 10*time.Second)
	for _, chat := range []int64{50_001, 50_002} {
		msg := e.sb.Messages(chat)[0]
		require.Equal(t, img.Bytes(), msg.Photo, "chat %d did not get the admin's photo", chat)
		require.Empty(t, msg.PhotoURL, "the file_id was taken for a URL")
		require.Equal(t, "Spring sale", msg.Plain)
		require.True(t, msg.PaidBroadcast)
	}
}

// Free messages waiting for SENDER_RATE's tokens do not hold up a paid
// broadcast, even when they are more urgent: each waits for its own limit.
func TestFreeMessagesWaitingForTheirRateDoNotHoldUpAPaidBroadcast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandboxtg.Config{ChatRate: 1, ChatBurst: 2})
	const free, paid, freeRate = 40, 200, 10
	for c := range int64(free) {
		e.publish(t, cmd(60_000+c, "reminder", reminder))
	}
	for c := range int64(paid) {
		e.publish(t, paidCmd(61_000+c, "news"))
	}
	e.start(t, fastConfig(freeRate, 1))
	want := map[int64]int{}
	for c := range int64(free) {
		want[60_000+c] = 1
	}
	for c := range int64(paid) {
		want[61_000+c] = 1
	}
	e.waitDelivered(t, want, 30*time.Second)

	var lastPaid, lastFree time.Time
	for _, c := range e.rec.of(0) {
		if c.paid && c.start.After(lastPaid) {
			lastPaid = c.start
		}
		if !c.paid && c.start.After(lastFree) {
			lastFree = c.start
		}
	}
	require.True(t, lastPaid.Before(lastFree), "the paid broadcast waited behind the free messages' rate")
	calls := e.rec.of(0)
	elapsed := lastFree.Sub(calls[0].start)
	require.GreaterOrEqual(t, elapsed, time.Duration(free-2)*time.Second/freeRate, "the free messages went faster than SENDER_RATE")
	require.Zero(t, e.sb.Stats().TooManyRequests)
}
