package updates_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/updates"
)

// recordingBot stands in for the bot: it records the updates it is given
// and the bans the inbox read with them, and panics on the message
// "boom", as a handler with a bug would.
type recordingBot struct {
	mu     sync.Mutex
	ids    []int
	banned map[int]bool
}

func (b *recordingBot) ProcessBanned(_ context.Context, u tele.Update, bannedAt *time.Time) (string, error) {
	if u.Message != nil && u.Message.Text == "boom" {
		panic("boom")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ids = append(b.ids, u.ID)
	if b.banned == nil {
		b.banned = map[int]bool{}
	}
	b.banned[u.ID] = bannedAt != nil
	return "test", nil
}

// seen is the ids of the updates the bot was given, in order.
func (b *recordingBot) seen() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.ids)
}

// message is a raw update: chat's user wrote text.
func message(updateID, chat int64, text string) []byte {
	return fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":1,"from":{"id":%d,"is_bot":false,"first_name":"A"},`+
		`"chat":{"id":%d,"type":"private"},"date":1700000000,"text":%q}}`, updateID, chat, chat, text)
}

func TestUpdateIsHandledWithTheIdsOfItsBody(t *testing.T) {
	t.Parallel()
	const botID = 1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var logs obstest.LogBuffer
	db := pgdbtest.New(t)
	users := store.New(db.Pool)
	bot := &recordingBot{}
	h, err := updates.NewHandler(botID, users, bot, obstest.NewLogger(&logs), prometheus.NewRegistry())
	require.NoError(t, err)
	// User 8 is banned: the inbox's read of their update brings the ban.
	_, err = users.UpsertStartingUser(ctx, store.StartingUser{ID: 8, ChatID: 8, Language: "en"})
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `UPDATE users SET banned_at = now() WHERE id = 8`)
	require.NoError(t, err)

	// The headers name other ids than the body does, so that what the
	// handler logs and records tells which of the two it read: the body's,
	// decoded as the gateway decoded it, whatever the headers say.
	forged := telegram.UpdateMeta{UpdateID: 500, ChatID: 700, UserID: 700}
	require.NoError(t, h.Handle(ctx, bus.Delivery{Data: message(5, 7, "/help"), Header: forged.Header(), Published: time.Now()}))
	require.NoError(t, h.Handle(ctx, bus.Delivery{Data: message(6, 8, "/help"), Published: time.Now()}))

	require.Equal(t, []int{5, 6}, bot.seen(), "the bot is given each body, decoded")
	require.Equal(t, map[int]bool{5: false, 6: true}, bot.banned, "the body's user's ban, read with the inbox")
	for id, want := range map[int64]bool{500: false, 5: true, 6: true} {
		read, err := users.ReadInbox(ctx, botID, id, 0)
		require.NoError(t, err)
		require.Equal(t, want, read.Done, "update %d in the inbox", id)
	}
	handled := logs.Events(t, obs.EventUpdateHandled)
	require.Len(t, handled, 2)
	require.EqualValues(t, 5, handled[0]["update_id"])
	require.EqualValues(t, 7, handled[0]["chat_id"])
	require.EqualValues(t, 6, handled[1]["update_id"])
	require.EqualValues(t, 8, handled[1]["chat_id"])
}

// A handler's panic is the consumer's to catch: the update is dead-lettered
// with the stack, on-call sees HANDLER_PANIC, and the next update of its
// partition is handled.
func TestPanickingHandlerIsDeadLetteredWithItsStackAndThePartitionMovesOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	bot := &recordingBot{}
	reg := prometheus.NewRegistry()
	h, err := updates.NewHandler(e.botID, store.New(e.db.Pool), bot, e.log, reg)
	require.NoError(t, err)
	e.consume(e.db.Pool, h, handlerTimeout, reg, func() {})

	for _, u := range []struct {
		id   int64
		text string
	}{{1, "boom"}, {2, "/help"}} {
		meta := telegram.UpdateMeta{UpdateID: u.id, ChatID: 7, UserID: 7}
		e.publishMsg(&nats.Msg{Subject: telegram.UpdatesSubject(0), Data: message(u.id, 7, u.text), Header: meta.Header()},
			fmt.Sprintf("%d:%d", e.botID, u.id))
	}
	e.settle()

	dead := e.dlq()
	require.Len(t, dead, 1)
	require.Equal(t, fmt.Sprintf("%d:1", e.botID), dead[0].MsgID)
	require.Equal(t, bus.DLQReasonPermanent, dead[0].Reason, "a panic is not retried")
	require.Contains(t, dead[0].Error, "handler panicked: boom")
	require.Contains(t, dead[0].Stack, "handle_test.go", "the dead letter carries the panicking handler's stack")
	require.Len(t, e.logs.Events(t, bus.EventHandlerPanic), 1)
	require.Equal(t, []int{2}, bot.seen(), "the partition moved on past the update that panicked")
	require.Equal(t, 1, e.inboxCount(), "the update that panicked is not recorded as handled")
}
