package telegram_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

func TestChatFloodLimitAnswers429ThatTelebotSurfaces(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{ChatRate: 1, ChatBurst: 1})
	b := e.bot()

	_, err := b.Send(&tele.User{ID: 1}, "first")
	require.NoError(t, err)
	_, err = b.Send(&tele.User{ID: 1}, "second")
	var flood tele.FloodError
	require.ErrorAs(t, err, &flood)
	require.Equal(t, 1, flood.RetryAfter)

	raw := e.callJSON("sendMessage", map[string]any{"chat_id": 1, "text": "third"})
	require.Equal(t, http.StatusTooManyRequests, raw.Status)
	require.Equal(t, "Too Many Requests: retry after 1", raw.Description)
	require.Equal(t, 1, raw.Parameters.RetryAfter)

	// The limit is per chat, and answering callbacks is not limited.
	_, err = b.Send(&tele.User{ID: 2}, "other chat")
	require.NoError(t, err)
	require.Equal(t, 400, e.callJSON("answerCallbackQuery", map[string]any{"callback_query_id": "x"}).Status)

	require.Equal(t, 2, e.s.Stats().TooManyRequests)
	require.Len(t, e.s.Messages(1), 1)
}

func TestGlobalFloodLimitSpansChats(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{GlobalRate: 2})
	b := e.bot()

	for chat := int64(1); chat <= 2; chat++ {
		_, err := b.Send(&tele.User{ID: chat}, "ok")
		require.NoError(t, err)
	}
	_, err := b.Send(&tele.User{ID: 3}, "over the bot-wide limit")
	var flood tele.FloodError
	require.ErrorAs(t, err, &flood)
	require.Empty(t, e.s.Messages(3))
}

func TestBlockedUserAnswers403(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()
	user := &tele.User{ID: 5}

	e.s.Block(5)
	_, err := b.Send(user, "anyone there?")
	require.ErrorIs(t, err, tele.ErrBlockedByUser)
	require.Equal(t, 1, e.s.Stats().Forbidden)
	require.Empty(t, e.s.Messages(5))

	e.s.Unblock(5)
	_, err = b.Send(user, "welcome back")
	require.NoError(t, err)
	require.Len(t, e.s.Messages(5), 1)
}

func TestInjectedStatusesAndLatency(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()

	e.s.Inject(telegram.Fault{Method: "sendMessage", Status: 500, Times: 1})
	_, err := b.Send(&tele.User{ID: 1}, "lost")
	require.ErrorIs(t, err, tele.ErrInternal)
	_, err = b.Send(&tele.User{ID: 1}, "delivered")
	require.NoError(t, err)
	require.Equal(t, 2, e.s.Stats().Requests["sendMessage"])

	e.s.Inject(telegram.Fault{ChatID: 10, Status: 429, RetryAfter: 7})
	_, err = b.Send(&tele.User{ID: 11}, "other chat is fine")
	require.NoError(t, err)
	_, err = b.Send(&tele.User{ID: 10}, "flooded")
	var flood tele.FloodError
	require.ErrorAs(t, err, &flood)
	require.Equal(t, 7, flood.RetryAfter)
	e.s.ClearFaults()

	e.s.Inject(telegram.Fault{Method: "getme", Latency: 200 * time.Millisecond})
	began := time.Now()
	got := e.callJSON("getMe", nil)
	require.True(t, got.OK)
	require.GreaterOrEqual(t, time.Since(began), 200*time.Millisecond)

	// The failed call left nothing in the chat.
	msgs := e.s.Messages(1)
	require.Len(t, msgs, 1)
	require.Equal(t, "delivered", msgs[0].Text)
	require.Empty(t, e.s.Messages(10))
}

func TestHangingCallIsReleasedByClearFaults(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()

	e.s.Inject(telegram.Fault{Method: "sendMessage", Hang: true})
	done := make(chan error, 1)
	go func() {
		_, err := b.Send(&tele.User{ID: 1}, "eventually")
		done <- err
	}()
	require.Eventually(t, func() bool { return e.s.Stats().Requests["sendMessage"] == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Never(t, func() bool { return len(done) > 0 }, 100*time.Millisecond, 5*time.Millisecond)
	require.Empty(t, e.s.Messages(1))

	e.s.ClearFaults()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("hung call was not released by ClearFaults")
	}
	require.Equal(t, "eventually", e.s.Messages(1)[0].Text)
}

func TestCloseReleasesHangingCalls(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()

	e.s.Inject(telegram.Fault{Hang: true})
	done := make(chan error, 1)
	go func() {
		_, err := b.Send(&tele.User{ID: 1}, "never")
		done <- err
	}()
	require.Eventually(t, func() bool { return e.s.Stats().Requests["sendMessage"] == 1 }, 5*time.Second, 5*time.Millisecond)

	closed := make(chan struct{})
	go func() {
		e.s.Close()
		close(closed)
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		require.False(t, errors.Is(err, tele.ErrBlockedByUser))
	case <-time.After(5 * time.Second):
		t.Fatal("hung call was not released by Close")
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	require.Empty(t, e.s.Messages(1))
}

// TestFloodsAreTheLimitsOwnRefusalsNotInjectedOnes tells the 429s a bot
// earns by sending too fast from those a test injects.
func TestFloodsAreTheLimitsOwnRefusalsNotInjectedOnes(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{ChatRate: 1, ChatBurst: 1})
	e.s.Inject(telegram.Fault{Method: "sendMessage", ChatID: 2, Status: http.StatusTooManyRequests, Times: 1})
	require.Equal(t, http.StatusTooManyRequests, e.callJSON("sendMessage", map[string]any{"chat_id": 2, "text": "injected"}).Status)
	require.True(t, e.callJSON("sendMessage", map[string]any{"chat_id": 1, "text": "first"}).OK)
	require.Equal(t, http.StatusTooManyRequests, e.callJSON("editMessageText",
		map[string]any{"chat_id": 1, "message_id": 1, "text": "too soon"}).Status)

	st := e.s.Stats()
	require.Equal(t, 2, st.TooManyRequests)
	require.Equal(t, 1, st.Flooded)
	floods := e.s.Floods()
	require.Len(t, floods, 1)
	require.Equal(t, "editMessageText", floods[0].Method)
	require.EqualValues(t, 1, floods[0].ChatID)
	require.False(t, floods[0].Global, "the chat's limit refused it")
	require.WithinDuration(t, time.Now(), floods[0].At, 5*time.Second)
}
