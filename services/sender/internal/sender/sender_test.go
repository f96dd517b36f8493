package sender_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/sender/internal/sender"
)

const (
	transactional = vpnbotv1.Priority_PRIORITY_TRANSACTIONAL
	reminder      = vpnbotv1.Priority_PRIORITY_REMINDER
	broadcast     = vpnbotv1.Priority_PRIORITY_BROADCAST
)

// The sandbox's limits are scaled up from Telegram's (30/s, 1/s per chat)
// so the tests stay short; the sender runs just under them, as in
// production.
var fastLimits = sandboxtg.Config{GlobalRate: 200, ChatRate: 5}

func TestDeliversEveryMessageInOrderWithoutFloodErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	const chats, perChat = 100, 10
	for i := range perChat {
		for c := range int64(chats) {
			e.publish(t, cmd(1000+c, fmt.Sprintf("msg %d", i), reminder))
		}
	}
	in := e.start(t, fastConfig(180, 4))

	want := map[int64]int{}
	for c := range int64(chats) {
		want[1000+c] = perChat
	}
	e.waitDelivered(t, want, 40*time.Second)
	for chat := range want {
		var expected []string
		for i := range perChat {
			expected = append(expected, fmt.Sprintf("msg %d", i))
		}
		require.Equal(t, expected, e.texts(chat), "chat %d", chat)
	}
	require.Zero(t, e.sb.Stats().TooManyRequests, "the sender went over Telegram's limits")
	// The last messages are recorded in the sent-log a moment after Telegram
	// took them.
	require.Eventually(t, func() bool { return in.sends(t, "sent") == chats*perChat }, 10*time.Second, 20*time.Millisecond)
	var logged int
	require.NoError(t, e.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM sent_messages").Scan(&logged))
	require.Equal(t, chats*perChat, logged, "every sent message is in the sent-log; not recorded: %v",
		in.logs.Lines(sender.EventNotRecorded))
}

func TestHonoursRetryAfterForThatChatOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	const flooded, other = 501, 502
	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: flooded, Status: http.StatusTooManyRequests, RetryAfter: 1, Times: 1})
	for i := range 3 {
		e.publish(t, cmd(flooded, fmt.Sprint("f", i), transactional))
		e.publish(t, cmd(other, fmt.Sprint("o", i), transactional))
	}
	in := e.start(t, fastConfig(50, 4))
	e.waitDelivered(t, map[int64]int{flooded: 3, other: 3}, 15*time.Second)

	require.Equal(t, []string{"f0", "f1", "f2"}, e.texts(flooded))
	calls := e.rec.of(flooded)
	require.Len(t, calls, 4, "one refused call, then the three messages")
	require.Equal(t, http.StatusTooManyRequests, calls[0].status)
	require.GreaterOrEqual(t, calls[1].start.Sub(calls[0].end), time.Second,
		"the chat was called again before retry_after had passed")
	// The other chat did not wait for the flooded one.
	otherCalls := e.rec.of(other)
	require.True(t, otherCalls[len(otherCalls)-1].end.Before(calls[1].start), "another chat waited for the flooded one")
	require.Equal(t, 1.0, in.metric(t, "vpnbot_sender_flood_waits_total", map[string]string{"scope": "chat"}))
	require.Len(t, in.logs.Events(t, sender.EventFloodWait), 1)
}

func TestBlockedUserIsMarkedAndNoLongerCalled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	const blocked, other = 601, 602
	ctx := context.Background()
	_, err := e.db.Pool.Exec(ctx, "INSERT INTO users (id, chat_id) VALUES ($1, $1), ($2, $2)", blocked, other)
	require.NoError(t, err)
	e.sb.Block(blocked)
	in := e.start(t, fastConfig(50, 4))

	e.publish(t, cmd(blocked, "first", reminder))
	require.Eventually(t, func() bool {
		var at *time.Time
		require.NoError(t, e.db.Pool.QueryRow(ctx, "SELECT blocked_at FROM users WHERE id = $1", blocked).Scan(&at))
		return at != nil
	}, 10*time.Second, 20*time.Millisecond, "users.blocked_at was not set after the 403")

	for i := range 3 {
		e.publish(t, cmd(blocked, fmt.Sprint("later ", i), reminder))
	}
	e.publish(t, cmd(other, "hello", reminder))
	e.waitDelivered(t, map[int64]int{other: 1}, 10*time.Second)
	require.Eventually(t, func() bool { return in.sends(t, "dropped") == 3 }, 10*time.Second, 20*time.Millisecond)

	require.Len(t, e.rec.of(blocked), 1, "a blocked user's later messages must not reach Telegram")
	require.Equal(t, 1, e.sb.Stats().Forbidden)
	require.Equal(t, 1.0, in.sends(t, "blocked"))
	require.Len(t, in.logs.Events(t, sender.EventUserBlocked), 1)
	var otherBlocked bool
	require.NoError(t, e.db.Pool.QueryRow(ctx, "SELECT blocked_at IS NOT NULL FROM users WHERE id = $1", other).Scan(&otherBlocked))
	require.False(t, otherBlocked)
}

func TestStoppedMidRunLosesNothingAndSendsNothingTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	const chats, perChat = 40, 5
	want := map[int64]int{}
	for i := range perChat {
		for c := range int64(chats) {
			e.publish(t, cmd(2000+c, fmt.Sprint("m", i), broadcast))
			want[2000+c] = perChat
		}
	}
	first := e.start(t, fastConfig(60, 4))
	require.Eventually(t, func() bool { return len(e.rec.sent()) >= 40 }, 15*time.Second, 10*time.Millisecond)
	first.stop()
	sentByFirst := len(e.rec.sent())
	require.Less(t, sentByFirst, chats*perChat, "the first sender finished before it was stopped")

	e.start(t, fastConfig(60, 4))
	e.waitDelivered(t, want, 30*time.Second)
	for chat := range want {
		texts := e.texts(chat)
		slices.Sort(texts)
		require.Equal(t, []string{"m0", "m1", "m2", "m3", "m4"}, texts, "chat %d: lost or repeated messages", chat)
	}
	require.Len(t, e.rec.sent(), chats*perChat, "a message was sent twice")
}

func TestRepublishedCommandIsNotSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	in := e.start(t, fastConfig(50, 4))
	const chat = 701
	m := cmd(chat, "your key", transactional)
	e.publish(t, m)
	e.waitDelivered(t, map[int64]int{chat: 1}, 10*time.Second)

	// The same command again, past the stream's duplicate detection (another
	// Nats-Msg-Id), as after the duplicate window: the sent-log stops it.
	data, err := proto.Marshal(m)
	require.NoError(t, err)
	msg := &nats.Msg{Subject: outbox.Subject(transactional, bus.Partition(chat, telegram.DefaultPartitions)), Data: data}
	_, err = e.js.PublishMsg(context.Background(), msg, jetstream.WithMsgID("another-id"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return in.sends(t, "duplicate") == 1 }, 10*time.Second, 20*time.Millisecond)
	require.Len(t, e.sb.Messages(chat), 1, "a re-published command was sent twice")
	require.Len(t, e.rec.of(chat), 1)
}

func TestTransactionalOvertakesQueuedBroadcasts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	for c := range int64(200) {
		e.publish(t, cmd(3000+c, "news", broadcast))
	}
	in := e.start(t, fastConfig(20, 4))
	// Wait until the broadcasts are held by the scheduler.
	require.Eventually(t, func() bool {
		return in.metric(t, "vpnbot_sender_queued", nil) > 150
	}, 10*time.Second, 10*time.Millisecond)

	const urgent = 3999
	before := len(e.rec.sent())
	e.publish(t, cmd(urgent, "your key", transactional))
	e.waitDelivered(t, map[int64]int{urgent: 1}, 10*time.Second)

	sent := e.rec.sent()
	pos := slices.Index(sent, urgent)
	require.LessOrEqual(t, pos-before, 4, "the transactional message waited behind %d broadcasts", pos-before)
	require.Less(t, len(sent), 150, "the broadcasts were nearly done: the test proves nothing")
}

func TestLeaderSendsAndStandbyTakesOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	key := rand.Int64()
	type contender struct {
		in      *instance
		elector *pgdb.Elector
		cancel  context.CancelFunc
		done    chan struct{} // closed when Run has returned
		err     error         // Run's result, once done
	}
	run := func() *contender {
		in := e.newInstance(t, fastConfig(60, 4))
		el := pgdb.NewElector(e.db.Pool.Config().ConnConfig.Copy(), key, "sender", obstest.NewLogger(in.logs), in.reg)
		el.RetryInterval = 100 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		c := &contender{in: in, elector: el, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(c.done)
			c.err = el.Run(ctx, in.s.Lead)
		}()
		t.Cleanup(func() { cancel(); <-c.done })
		return c
	}
	a, b := run(), run()

	want := map[int64]int{}
	for i := range 6 {
		for c := range int64(10) {
			e.publish(t, cmd(4000+c, fmt.Sprint("m", i), reminder))
			want[4000+c] = 6
		}
	}
	require.Eventually(t, func() bool { return len(e.rec.sent()) >= 10 }, 15*time.Second, 10*time.Millisecond)
	leader, standby := a, b
	if b.elector.IsLeader() {
		leader, standby = b, a
	}
	require.True(t, leader.elector.IsLeader())
	require.Zero(t, standby.in.sends(t, "sent"), "the standby sent while another instance led")

	leader.cancel()
	select {
	case <-leader.done:
		require.NoError(t, leader.err)
	case <-time.After(15 * time.Second):
		t.Fatal("the leader did not stop")
	}
	e.waitDelivered(t, want, 30*time.Second)
	require.True(t, standby.elector.IsLeader())
	require.Positive(t, standby.in.sends(t, "sent"), "the standby did not take over")
	require.Len(t, e.rec.sent(), 60, "lost or repeated messages across the takeover")
}

func TestRefusedGoesToDLQAndServerErrorsAreRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	const refused, flaky = 801, 802
	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: refused, Status: http.StatusBadRequest, Times: 1})
	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: flaky, Status: http.StatusInternalServerError, Times: 2})
	in := e.start(t, fastConfig(50, 4))
	bad := cmd(refused, "refused", reminder)
	e.publish(t, bad)
	e.publish(t, cmd(flaky, "flaky", reminder))

	e.waitDelivered(t, map[int64]int{flaky: 1}, 10*time.Second)
	require.Equal(t, 2.0, in.sends(t, "failed"), "each 500 is one failed attempt")
	var dead []bus.DLQEntry
	require.Eventually(t, func() bool {
		var err error
		dead, err = bus.ListDLQ(context.Background(), e.js, outbox.Stream, 0)
		require.NoError(t, err)
		return len(dead) == 1
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, bus.DLQReasonPermanent, dead[0].Reason)
	require.Equal(t, bad.GetDedupId(), dead[0].MsgID)
	require.Contains(t, dead[0].Error, "injected fault")
	require.Empty(t, e.sb.Messages(refused))
	require.Equal(t, 1.0, in.sends(t, "dlq"))
}

func TestServerErrorsPastMaxAttemptsGoToDLQ(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	const chat = 851
	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: chat, Status: http.StatusBadGateway})
	in := e.start(t, fastConfig(50, 4)) // MaxAttempts 3
	e.publish(t, cmd(chat, "never", reminder))
	e.publish(t, cmd(chat, "after", reminder))
	require.Eventually(t, func() bool { return in.sends(t, "dlq") == 2 }, 10*time.Second, 20*time.Millisecond)
	dead, err := bus.ListDLQ(context.Background(), e.js, outbox.Stream, 0)
	require.NoError(t, err)
	require.Len(t, dead, 2)
	require.Equal(t, bus.DLQReasonMaxDeliver, dead[0].Reason)
	require.Len(t, e.rec.of(chat), 6, "three attempts each")
}

func TestSendsPhotosAndButtons(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	e.start(t, fastConfig(50, 4))
	var img bytes.Buffer
	require.NoError(t, png.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8))))
	const chat = 901
	rows := []*vpnbotv1.ButtonRow{{Buttons: []*vpnbotv1.Button{
		{Text: "Renew", CallbackData: "renew"}, {Text: "Help", Url: "https://example.com/help"},
	}}, {Buttons: []*vpnbotv1.Button{{Text: "Open app", WebAppUrl: "https://app.example.com/"}}}}
	e.publish(t, &vpnbotv1.SendMessage{DedupId: "qr", ChatId: chat, Text: "<b>Your key</b>", ParseMode: "HTML",
		Photo: img.Bytes(), Rows: rows, Priority: transactional})
	e.publish(t, &vpnbotv1.SendMessage{DedupId: "url", ChatId: chat, Text: "by url",
		PhotoUrl: "https://example.com/p.png", Priority: transactional})
	e.publish(t, &vpnbotv1.SendMessage{DedupId: "text", ChatId: chat, Text: "plain", Rows: rows, Priority: transactional})
	e.waitDelivered(t, map[int64]int{chat: 3}, 10*time.Second)

	msgs := e.sb.Messages(chat)
	require.Equal(t, img.Bytes(), msgs[0].Photo)
	require.Equal(t, "Your key", msgs[0].Plain)
	wantButtons := [][]sandboxtg.Button{{{Text: "Renew", Data: "renew"}, {Text: "Help", URL: "https://example.com/help"}},
		{{Text: "Open app", WebApp: "https://app.example.com/"}}}
	require.Equal(t, wantButtons, msgs[0].Buttons)
	require.Equal(t, "https://example.com/p.png", msgs[1].PhotoURL)
	require.Equal(t, "by url", msgs[1].Text)
	require.Equal(t, "plain", msgs[2].Text)
	require.Equal(t, wantButtons, msgs[2].Buttons)
}

// BenchmarkSustainedRate sends b.N messages to 200 chats against the sandbox
// at Telegram's own limits (30/s, 1/s per chat) with the sender at its
// defaults, and reports the achieved rate as a fraction of SENDER_RATE. A
// 60-second run is -benchtime 1500x. Any 429 fails it.
func BenchmarkSustainedRate(b *testing.B) {
	e := newEnv(b, sandboxtg.Config{})
	for i := range b.N {
		e.publish(b, cmd(int64(5000+i%200), fmt.Sprint("m", i), broadcast))
	}
	in := e.newInstance(b, sender.Config{}) // the defaults: 25/s, 1/s per chat
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	go func() { done <- in.s.Lead(ctx) }()
	// All sent, or well past the time the configured rate needs.
	deadline := time.After(time.Duration(b.N)*time.Second/sender.DefaultRate + time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for len(e.rec.sent()) < b.N {
		select {
		case <-deadline:
			break wait
		case <-tick.C:
		}
	}
	b.StopTimer()
	cancel()
	require.NoError(b, <-done)
	calls := e.rec.of(0)
	require.Len(b, e.rec.sent(), b.N, "not every message was sent in time")
	if b.N > 1 {
		elapsed := calls[len(calls)-1].start.Sub(calls[0].start).Seconds()
		b.ReportMetric(float64(b.N-1)/elapsed/sender.DefaultRate, "rate_fraction")
	}
	tooMany := e.sb.Stats().TooManyRequests
	b.ReportMetric(float64(tooMany), "429s")
	require.Zero(b, tooMany, "the sender went over Telegram's limits")
}

// Under the sender's own role, as in production: its grants are enough to
// pace the chats, log what it sent and mark a user who blocked the bot.
func TestSendsUnderTheServicesRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLimits)
	e.pool = e.db.As(t, "sender")
	e.withPacer(t, chatpace.DefaultSettings())
	const blocked, other = 701, 702
	ctx := context.Background()
	_, err := e.db.Pool.Exec(ctx, "INSERT INTO users (id, chat_id) VALUES ($1, $1), ($2, $2)", blocked, other)
	require.NoError(t, err)
	e.sb.Block(blocked)
	e.start(t, fastConfig(50, 4))

	e.publish(t, cmd(blocked, "first", reminder))
	e.publish(t, cmd(other, "hello", reminder))
	e.waitDelivered(t, map[int64]int{other: 1}, 10*time.Second)
	require.Eventually(t, func() bool {
		var at *time.Time
		require.NoError(t, e.db.Pool.QueryRow(ctx, "SELECT blocked_at FROM users WHERE id = $1", blocked).Scan(&at))
		return at != nil
	}, 10*time.Second, 20*time.Millisecond, "users.blocked_at was not set after the 403")
	var logged, paced int
	require.NoError(t, e.db.Pool.QueryRow(ctx, "SELECT count(*) FROM sent_messages").Scan(&logged))
	require.NoError(t, e.db.Pool.QueryRow(ctx, "SELECT count(*) FROM telegram_chat_pace").Scan(&paced))
	require.Equal(t, 1, logged, "the message delivered is in the sent-log")
	require.Positive(t, paced, "the chats' slots were taken from the shared budget")
}
