package updates_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
)

// queued is a SendMessage command as it waits in OUTBOX for the sender.
type queued struct {
	subject string
	msgID   string
	cmd     *vpnbotv1.SendMessage
}

// outboxCommands reads every command in OUTBOX, in stream order (nothing
// consumes them here: there is no sender).
func (e *env) outboxCommands() []queued {
	e.t.Helper()
	ctx := e.ctx(5 * time.Second)
	s, err := e.js.Stream(ctx, outbox.Stream)
	require.NoError(e.t, err)
	info, err := s.Info(ctx)
	require.NoError(e.t, err)
	var out []queued
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		require.NoError(e.t, err)
		cmd, err := outbox.Decode(raw.Data)
		require.NoError(e.t, err)
		out = append(out, queued{subject: raw.Subject, msgID: raw.Header.Get("Nats-Msg-Id"), cmd: cmd})
	}
	return out
}

// exec runs a statement on the test's schema.
func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	_, err := e.db.Pool.Exec(e.ctx(5*time.Second), sql, args...)
	require.NoError(e.t, err)
}

// answered waits until the bot wrote to user a message containing want.
func (e *env) answered(user int64, want string) sandboxtg.Message {
	e.t.Helper()
	return e.waitMessage(user, func(m sandboxtg.Message) bool { return strings.Contains(m.Plain, want) },
		"user %d is told %q", user, want)
}

// sendBroadcast presses Send under the admin's preview summary msg of the
// broadcast made last, waits until it shows the broadcast's status, and
// returns the broadcast's id.
func (e *env) sendBroadcast(msg sandboxtg.Message) int64 {
	e.t.Helper()
	var id int64
	require.NoError(e.t, e.db.Pool.QueryRow(e.ctx(5*time.Second),
		`SELECT id FROM broadcasts WHERE state = 'draft' ORDER BY id DESC LIMIT 1`).Scan(&id))
	data := botui.Callback(botui.ActionBroadcastSend, fmt.Sprint(id))
	require.True(e.t, msg.HasButton(data), "the summary of broadcast %d has Send", id)
	e.press(e.admin, msg.ID, data)
	return id
}

func TestBroadcastQueuesOneMessagePerRecipientOnceAndReportsProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	e.started(e.admin)
	const (
		active1, active2, active3 = 21001, 21002, 21003
		expired, blocked          = 21004, 21005
	)
	for _, u := range []int64{active1, active2, active3, expired, blocked} {
		e.exec(`INSERT INTO users (id, chat_id) VALUES ($1, $1)`, u)
	}
	for _, u := range []int64{active1, active2, active3, blocked} {
		e.exec(`INSERT INTO subscriptions (user_id, kind, starts_at, expires_at)
			VALUES ($1, 'paid', now() - interval '1 day', now() + interval '29 days')`, u)
	}
	e.exec(`INSERT INTO subscriptions (user_id, kind, status, starts_at, expires_at, revoked_at)
		VALUES ($1, 'paid', 'revoked', now() - interval '40 days', now() - interval '10 days', now() - interval '9 days')`, expired)
	e.exec(`UPDATE users SET blocked_at = now() WHERE id = $1`, blocked)

	// The preview to the admin fails once, so the update is delivered
	// again: the redelivery finds the draft the first made.
	e.sb.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: e.admin, Status: 500, Times: 1})
	const text = "New servers in <b>Amsterdam</b> & Tokyo!\n\nRenew: /start"
	e.say(e.admin, "/broadcast active "+text)
	e.forward()
	summary := e.answered(e.admin, "Recipients: 3")
	e.settle()
	require.Equal(t, 1, e.count(`SELECT count(*) FROM broadcasts`))
	require.Empty(t, e.outboxCommands(), "nothing is queued before Send")

	// The status shown after Send fails once, so the press is delivered
	// again after its commands were published: the redelivery must publish
	// nothing twice and make no second broadcast.
	e.sb.Inject(sandboxtg.Fault{Method: "editMessageText", ChatID: e.admin, Status: 500, Times: 1})
	id := e.sendBroadcast(summary)
	e.screen(e.admin, summary.ID, "Waiting: 3")
	e.settle()

	queuedEvents := e.logs.Events(t, bot.EventBroadcastQueued)
	require.Len(t, queuedEvents, 2, "the press was handled twice")
	require.EqualValues(t, 3, queuedEvents[0]["published"])
	require.EqualValues(t, 0, queuedEvents[1]["published"], "the redelivery published nothing new")
	require.EqualValues(t, 3, queuedEvents[1]["duplicates"])
	require.Equal(t, 1, e.count(`SELECT count(*) FROM broadcasts`))
	require.Equal(t, 3, e.count(`SELECT total FROM broadcasts WHERE id = $1`, id))

	cmds := e.outboxCommands()
	require.Len(t, cmds, 3, "one command per active, unblocked user")
	for i, want := range []int64{active1, active2, active3} {
		c := cmds[i]
		dedup := fmt.Sprintf("broadcast:%d:%d", id, want)
		require.True(t, strings.HasPrefix(c.subject, "outbox.broadcast."), c.subject)
		require.Equal(t, dedup, c.msgID)
		require.Equal(t, dedup, c.cmd.GetDedupId())
		require.Equal(t, want, c.cmd.GetChatId())
		require.Equal(t, text, c.cmd.GetText(), "the admin's text, line breaks and all")
		require.Empty(t, c.cmd.GetParseMode(), "sent as plain text: the admin's < and & are not markup")
		require.Equal(t, vpnbotv1.Priority_PRIORITY_BROADCAST, c.cmd.GetPriority())
		require.Equal(t, id, c.cmd.GetBroadcastId(), "the sender drops it once the broadcast is cancelled")
		require.False(t, c.cmd.GetPaidBroadcast())
	}

	// Anyone else: the unknown-command answer, and nothing is published.
	e.say(active1, "/broadcast all Free VPN for everyone")
	e.say(active1, "/broadcast_status "+fmt.Sprint(id))
	e.forward()
	msgs := e.waitReplies(active1, 2, answerWithin)
	require.Contains(t, msgs[0].Plain, "I only understand commands")
	require.Contains(t, msgs[1].Plain, "I only understand commands")

	// Mistakes are explained, not broadcast.
	e.say(e.admin, "/broadcast everyone hello")
	e.say(e.admin, "/broadcast all "+strings.Repeat("a", 4097))
	e.forward()
	e.answered(e.admin, "/broadcast <audience> <text>")
	e.answered(e.admin, "The text is 4097 characters long")
	e.settle()
	require.Len(t, e.outboxCommands(), 3)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM broadcasts`))

	// The sender got the message to one; another has blocked the bot since.
	e.exec(`INSERT INTO sent_messages (dedup_id, chat_id, telegram_message_id) VALUES ($1, $2, 1)`,
		fmt.Sprintf("broadcast:%d:%d", id, active1), active1)
	e.exec(`UPDATE users SET blocked_at = now() WHERE id = $1`, active3)
	e.say(e.admin, fmt.Sprintf("/broadcast_status %d", id))
	e.forward()
	status := e.answered(e.admin, "Sent: 1\nBlocked the bot: 1\nFailed: 0\nWaiting: 1\nRecipients: 3")
	require.Contains(t, status.Plain, fmt.Sprintf("Broadcast #%d to active users", id))
	require.Contains(t, status.Plain, "New servers in <b>Amsterdam</b> & Tokyo!", "the admin sees which broadcast it is")

	e.say(e.admin, "/broadcast_status 999999")
	e.forward()
	e.answered(e.admin, "There is no broadcast #999999.")
	require.Empty(t, e.dlq())
}

func TestBroadcastToAllAndExpiredInTheAdminsLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	e.start(e.db.Pool, handlerTimeout)
	e.sb.SetUser(sandboxtg.User{ID: e.admin, FirstName: "Админ", LanguageCode: "ru"})
	e.started(e.admin)
	const ended, never, gone = 22001, 22002, 22003
	for _, u := range []int64{ended, never, gone} {
		e.exec(`INSERT INTO users (id, chat_id) VALUES ($1, $1)`, u)
	}
	e.exec(`UPDATE users SET blocked_at = now() WHERE id = $1`, gone)
	// Expired but not yet revoked (within the grace period) counts as expired.
	e.exec(`INSERT INTO subscriptions (user_id, kind, starts_at, expires_at)
		VALUES ($1, 'trial', now() - interval '4 days', now() - interval '1 hour')`, ended)

	e.say(e.admin, "/broadcast expired Come back")
	e.forward()
	expiredID := e.sendBroadcast(e.answered(e.admin, "Получателей: 1"))
	e.say(e.admin, "/broadcast all Hello")
	e.forward()
	allID := e.sendBroadcast(e.answered(e.admin, "Получателей: 3"))
	e.settle()

	byID := map[string]string{}
	for _, c := range e.outboxCommands() {
		byID[c.msgID] = c.cmd.GetText()
	}
	require.Equal(t, map[string]string{
		fmt.Sprintf("broadcast:%d:%d", expiredID, ended): "Come back",
		fmt.Sprintf("broadcast:%d:%d", allID, e.admin):   "Hello",
		fmt.Sprintf("broadcast:%d:%d", allID, ended):     "Hello",
		fmt.Sprintf("broadcast:%d:%d", allID, never):     "Hello",
	}, byID, "everyone not blocked; expired = had a subscription, none running")

	e.say(e.admin, fmt.Sprintf("/broadcast_status %d", allID))
	e.forward()
	e.answered(e.admin, "Отправлено: 0\nЗаблокировали бота: 0\nНе доставлено: 0\nВ очереди: 3\nВсего: 3")
}
