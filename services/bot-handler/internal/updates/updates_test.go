package updates_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/updates"
)

const (
	handlerTimeout = 5 * time.Second
	answerWithin   = 10 * time.Second
)

type userRow struct {
	ChatID     int64
	Username   *string
	FirstName  *string
	Language   string
	StartParam *string
	Blocked    bool
}

func (e *env) user(id int64) userRow {
	e.t.Helper()
	var u userRow
	err := e.db.Pool.QueryRow(e.ctx(5*time.Second),
		`SELECT chat_id, username, first_name, language, start_param, blocked_at IS NOT NULL FROM users WHERE id = $1`, id,
	).Scan(&u.ChatID, &u.Username, &u.FirstName, &u.Language, &u.StartParam, &u.Blocked)
	require.NoError(e.t, err, "reading user %d", id)
	return u
}

func ptr(s string) *string { return &s }

func TestStartRemembersTheUserAndAnswersInTheirLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const alice, boris = 1001, 1002
	e.sb.SetUser(sandboxtg.User{ID: alice, FirstName: "Alice", Username: "alice", LanguageCode: "en"})
	e.sb.SetUser(sandboxtg.User{ID: boris, FirstName: "Борис", Username: "boris", LanguageCode: "ru-RU"})

	e.say(alice, "/start promo42")
	e.say(boris, "/start@"+botUsername)
	first := e.forward()

	welcome := e.waitReplies(alice, 1, answerWithin)[0]
	require.Contains(t, welcome.Text, "Hi, Alice")
	require.Contains(t, welcome.Text, "/help")
	require.Equal(t, first[0].MessageID, welcome.ReplyTo, "the welcome answers the /start")
	privet := e.waitReplies(boris, 1, answerWithin)[0]
	require.Contains(t, privet.Text, "Привет, Борис")
	require.Contains(t, privet.Text, "/help")

	require.Equal(t, userRow{ChatID: alice, Username: ptr("alice"), FirstName: ptr("Alice"), Language: "en", StartParam: ptr("promo42")}, e.user(alice))
	require.Equal(t, userRow{ChatID: boris, Username: ptr("boris"), FirstName: ptr("Борис"), Language: "ru"}, e.user(boris))

	// A returning user keeps the campaign that brought them; help and
	// anything else get short answers.
	e.say(alice, "/start other-campaign")
	e.say(alice, "/help")
	e.say(alice, "how do I pay?")
	e.say(boris, "/help")
	all := append(first, e.forward()...)
	answers := e.waitReplies(alice, 4, answerWithin)
	require.Contains(t, answers[2].Text, "/start")
	require.Contains(t, answers[3].Text, "/help")
	require.Contains(t, e.waitReplies(boris, 2, answerWithin)[1].Text, "Команды")
	e.requireAnsweredInOrder(alice, all)
	e.requireAnsweredInOrder(boris, all)
	require.Equal(t, ptr("promo42"), e.user(alice).StartParam)
	e.settle()
	require.Equal(t, 6, e.inboxCount())
}

func TestSameUpdateTwiceIsAnsweredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	inst := e.start(e.db.Pool, handlerTimeout)
	const user = 2001
	e.say(user, "/help")
	msgs := e.forward()
	require.Len(t, msgs, 1)
	// The gateway publishing the same update again after the stream's
	// duplicate window: JetStream cannot tell, the inbox must.
	e.publish(msgs[0].Subject, msgs[0].Raw, msgs[0].MsgID+":again")

	require.Eventually(t, func() bool {
		return counter(t, inst.reg, "vpnbot_bot_updates_total", "outcome", updates.OutcomeDuplicate) == 1
	}, answerWithin, 20*time.Millisecond)
	e.settle()
	require.Len(t, e.sb.Messages(user), 1)
	require.Equal(t, 1, e.inboxCount())
	require.Equal(t, float64(1), counter(t, inst.reg, "vpnbot_bot_updates_total", "outcome", updates.OutcomeHandled))
}

func TestReplicasKeepEachChatsOrder(t *testing.T) {
	t.Parallel()
	const chats, perChat = 20, 15
	e := newEnv(t, 8)
	for range 3 {
		e.start(e.db.Pool, handlerTimeout)
	}
	for i := range perChat {
		for c := range chats {
			e.say(int64(5000+c), "message "+string(rune('a'+i)))
		}
	}
	msgs := e.forward()
	require.Len(t, msgs, chats*perChat)
	for c := range chats {
		e.waitReplies(int64(5000+c), perChat, 60*time.Second)
	}
	for c := range chats {
		e.requireAnsweredInOrder(int64(5000+c), msgs)
	}
	e.settle()
	require.Equal(t, chats*perChat, e.inboxCount())
	require.Empty(t, e.dlq())
}

func TestHungTelegramCallIsGivenUpAndThePartitionMovesOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, 2*time.Second)
	const stuck = 3001
	other := e.partner(stuck)
	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: stuck, Hang: true})

	e.say(stuck, "/help")
	e.say(other, "/help")
	msgs := e.forward()
	require.Equal(t, msgs[0].Subject, msgs[1].Subject, "both chats share a partition")

	var dead []bus.DLQEntry
	require.Eventually(t, func() bool { dead = e.dlq(); return len(dead) == 1 }, 4*time.Second, 50*time.Millisecond)
	require.Equal(t, msgs[0].MsgID, dead[0].MsgID)
	require.Equal(t, bus.DLQReasonTimeout, dead[0].Reason, "a handler that gave up at its deadline and one the runner abandoned are both timeouts")
	require.NotContains(t, dead[0].Error, tokenSecret)
	require.Contains(t, e.waitReplies(other, 1, answerWithin)[0].Text, "/start")

	// Telegram recovered: the chat is not stuck either.
	e.sb.ClearFaults()
	e.say(stuck, "/help")
	msgs = append(msgs, e.forward()...)
	require.Equal(t, msgs[2].MessageID, e.waitReplies(stuck, 1, answerWithin)[0].ReplyTo)
	require.Len(t, e.sb.Messages(stuck), 1)
	e.settle()
	require.Equal(t, 2, e.inboxCount(), "the given-up update is not recorded as handled")
}

func TestDatabaseOutageLosesAndDoublesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	pool, proxy := e.proxiedPool()
	inst := e.start(pool, handlerTimeout)
	users := []int64{6001, 6002, 6003}
	for _, u := range users {
		e.say(u, "/start")
	}
	msgs := e.forward()
	for _, u := range users {
		e.waitReplies(u, 1, answerWithin)
	}
	// Cut between updates: an update cut off after its answer was sent but
	// before its inbox row was written would rightly be answered again.
	e.settle()
	proxy.Cut()
	for i := range 3 {
		for _, u := range users {
			e.say(u, "during the outage "+string(rune('1'+i)))
		}
	}
	msgs = append(msgs, e.forward()...)
	require.Eventually(t, func() bool { return inst.consumer.Ready(context.Background()) != nil },
		5*time.Second, 50*time.Millisecond, "not ready while PostgreSQL is down")
	require.Never(t, func() bool {
		n := 0
		for _, u := range users {
			n += len(e.sb.Messages(u))
		}
		return n > len(users)
	}, 2*time.Second, 50*time.Millisecond, "nothing can be answered without the database")

	proxy.Restore()
	for _, u := range users {
		e.waitReplies(u, 4, answerWithin)
	}
	e.settle()
	for _, u := range users {
		e.requireAnsweredInOrder(u, msgs)
	}
	require.Equal(t, len(msgs), e.inboxCount())
	require.Empty(t, e.dlq())
	require.NoError(t, inst.consumer.Ready(context.Background()))
}

func TestReplacedReplicaLosesAndDoublesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	// Slow answers keep the stream busy long enough to stop a replica mid-way.
	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", Latency: 30 * time.Millisecond})
	first := e.start(e.db.Pool, handlerTimeout)
	users := []int64{7001, 7002, 7003, 7004, 7005}
	for i := range 10 {
		for _, u := range users {
			e.say(u, "message "+string(rune('a'+i)))
		}
	}
	msgs := e.forward()
	answered := func() int {
		n := 0
		for _, u := range users {
			n += len(e.sb.Messages(u))
		}
		return n
	}
	require.Eventually(t, func() bool { return answered() >= 5 }, answerWithin, 10*time.Millisecond)
	first.stop()
	require.Less(t, answered(), len(msgs), "the replica stopped mid-stream")

	e.start(e.db.Pool, handlerTimeout)
	for _, u := range users {
		e.waitReplies(u, 10, 30*time.Second)
	}
	for _, u := range users {
		e.requireAnsweredInOrder(u, msgs)
	}
	e.settle()
	require.Equal(t, len(msgs), e.inboxCount())
	require.Empty(t, e.dlq())
}

func TestBlockedUserIsRememberedAndNotRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const user = 8001
	e.say(user, "/start")
	e.forward()
	e.waitReplies(user, 1, answerWithin)

	e.sb.Block(user)
	e.say(user, "/help")
	e.forward()
	require.Eventually(t, func() bool { return e.inboxCount() == 2 }, answerWithin, 20*time.Millisecond)
	require.True(t, e.user(user).Blocked)
	require.Empty(t, e.dlq())

	// Coming back with /start unblocks.
	e.sb.Unblock(user)
	e.say(user, "/start")
	e.forward()
	e.waitReplies(user, 2, answerWithin)
	require.False(t, e.user(user).Blocked)
}

func TestTelegramErrorsAreRetriedOrDeadLettered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	const flooded, failing, refused = 9001, 9002, 9003
	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: flooded, Status: http.StatusTooManyRequests, RetryAfter: 1, Times: 2})
	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: failing, Status: http.StatusInternalServerError, Times: 1})
	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: refused, Status: http.StatusBadRequest})
	for _, u := range []int64{flooded, failing, refused} {
		e.say(u, "/help")
	}
	sent := time.Now()
	msgs := e.forward()

	e.waitReplies(flooded, 1, answerWithin)
	require.GreaterOrEqual(t, time.Since(sent), 2*time.Second,
		"each 429 asked for retry_after=1s: the reply cannot come sooner than two of them")
	e.waitReplies(failing, 1, answerWithin)
	var dead []bus.DLQEntry
	require.Eventually(t, func() bool { dead = e.dlq(); return len(dead) == 1 }, answerWithin, 50*time.Millisecond)
	require.Equal(t, msgs[2].MsgID, dead[0].MsgID)
	require.Equal(t, bus.DLQReasonPermanent, dead[0].Reason)
	require.Contains(t, dead[0].Error, "400")
	e.settle()
	require.Len(t, e.sb.Messages(flooded), 1)
	require.Len(t, e.sb.Messages(failing), 1)
	require.Empty(t, e.sb.Messages(refused))
	require.Equal(t, 2, e.inboxCount())
}

// What the gateway refuses the handler refuses too (both decode with
// telegram.DecodeUpdate): an update that is not valid, stored by an older
// gateway or republished by hand, is dead-lettered at once and never
// reaches the bot, and the partition moves on.
func TestMalformedUpdateIsDeadLettered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.start(e.db.Pool, handlerTimeout)
	garbage := map[string]struct {
		raw []byte
		why error
	}{
		"not-an-update":   {[]byte(`{"message": "no update_id"}`), telegram.ErrUndecodable},
		"no-update-id":    {[]byte(`{"message":{"chat":{"id":10001,"type":"private"},"text":"/help"}}`), telegram.ErrNoUpdateID},
		"invalid-utf8":    {[]byte("{\"update_id\":901,\"message\":{\"chat\":{\"id\":10001,\"type\":\"private\"},\"text\":\"\xff\"}}"), telegram.ErrInvalidUTF8},
		"update-id-twice": {[]byte(`{"update_id":902,"message":{"chat":{"id":10001,"type":"private"},"text":"/help"},"update_id":"903"}`), telegram.ErrDuplicateKey},
		"too-deep":        {[]byte(`{"update_id":904,"a":` + strings.Repeat("[", telegram.MaxUpdateDepth) + strings.Repeat("]", telegram.MaxUpdateDepth) + `}`), telegram.ErrTooDeep},
		"chat-id-1e400":   {[]byte(`{"update_id":905,"message":{"chat":{"id":1e400,"type":"private"},"from":{"id":10001},"text":"/help"}}`), telegram.ErrBadID},
	}
	for msgID, g := range garbage {
		e.publish(telegram.UpdatesSubject(0), g.raw, msgID)
	}
	e.say(10001, "/help")
	e.forward()

	e.waitReplies(10001, 1, answerWithin)
	dead := e.dlq()
	require.Len(t, dead, len(garbage))
	for _, d := range dead {
		g, ok := garbage[d.MsgID]
		require.True(t, ok, "dead-lettered %s", d.MsgID)
		require.Equal(t, bus.DLQReasonPermanent, d.Reason)
		require.Contains(t, d.Error, g.why.Error())
		require.Equal(t, g.raw, d.Data, "the DLQ keeps the update as it came, for a replay")
	}
	e.settle()
	require.Equal(t, 1, e.inboxCount(), "only the valid update was handled")
}
