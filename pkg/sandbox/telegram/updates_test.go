package telegram_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

func TestGetUpdatesLongPollsAndOffsetConfirms(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})

	polled := make(chan answer, 1)
	began := time.Now()
	go func() { polled <- e.callJSON("getUpdates", map[string]any{"timeout": 5}) }()
	require.Eventually(t, func() bool { return e.s.Stats().Requests["getUpdates"] == 1 }, 5*time.Second, 5*time.Millisecond)

	first := e.s.SendText(9, "/start ref42")
	var got answer
	select {
	case got = <-polled:
	case <-time.After(4 * time.Second):
		t.Fatal("long poll did not return when an update arrived")
	}
	require.Less(t, time.Since(began), 4*time.Second)
	updates := decode[[]wireUpdate](t, got.Result)
	require.Len(t, updates, 1)
	u := updates[0]
	require.Equal(t, first, u.UpdateID)
	require.Equal(t, "/start ref42", u.Message.Text)
	require.Equal(t, int64(9), u.Message.Chat.ID)
	require.Equal(t, "private", u.Message.Chat.Type)
	require.Equal(t, "en", u.Message.From.LanguageCode)
	require.False(t, u.Message.From.IsBot)
	require.Len(t, u.Message.Entities, 1)
	require.Equal(t, "bot_command", u.Message.Entities[0].Type)
	require.Equal(t, 6, u.Message.Entities[0].Length)

	press := e.s.PressButton(9, 100, "buy")
	require.Greater(t, press, first)

	// Without confirming, the same updates come again.
	again := decode[[]wireUpdate](t, e.callJSON("getUpdates", map[string]any{"offset": first}).Result)
	require.Len(t, again, 2)
	// offset = first+1 confirms the message.
	rest := decode[[]wireUpdate](t, e.callJSON("getUpdates", map[string]any{"offset": first + 1}).Result)
	require.Len(t, rest, 1)
	require.Equal(t, "buy", rest[0].CallbackQuery.Data)
	require.Equal(t, int64(100), rest[0].CallbackQuery.Message.MessageID)
	require.Equal(t, 1, e.s.Stats().Pending)

	// A callback query can be answered once.
	cbID := rest[0].CallbackQuery.ID
	require.True(t, e.callJSON("answerCallbackQuery", map[string]any{"callback_query_id": cbID, "text": "ok"}).OK)
	twice := e.callJSON("answerCallbackQuery", map[string]any{"callback_query_id": cbID})
	require.Equal(t, "Bad Request: query is too old and response timeout expired or query ID is invalid", twice.Description)
	ans, ok := e.s.CallbackAnswer(press)
	require.True(t, ok)
	require.Equal(t, "ok", ans.Text)

	empty := e.callJSON("getUpdates", map[string]any{"offset": press + 1})
	require.JSONEq(t, `[]`, string(empty.Result))
	require.Equal(t, 0, e.s.Stats().Pending)
}

func TestEnqueueDeliversRawUpdatesAsGiven(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})

	dup := json.RawMessage(`{"update_id":500,"message":{"message_id":1,"date":1700000000,"chat":{"id":3,"type":"private"},"text":"hi"}}`)
	e.s.Enqueue(3, dup)
	e.s.Enqueue(3, dup)
	e.s.Enqueue(3, json.RawMessage(`{"message":{"message_id":2,"date":1700000000,"chat":{"id":3,"type":"private"},"text":"next"}}`))

	got := decode[[]wireUpdate](t, e.callJSON("getUpdates", map[string]any{}).Result)
	require.Len(t, got, 3)
	require.Equal(t, []int64{500, 500, 501}, []int64{got[0].UpdateID, got[1].UpdateID, got[2].UpdateID})
	// The enqueued message is part of the chat: the bot can reply to it.
	reply := e.callJSON("sendMessage", map[string]any{"chat_id": 3, "text": "hello", "reply_to_message_id": 1})
	require.True(t, reply.OK, reply.Description)
	require.Equal(t, int64(3), e.s.Messages(3)[0].ID)
}

func TestGetUpdatesConflictsWithWebhook(t *testing.T) {
	t.Parallel()
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(hook.Close)
	e := start(t, telegram.Config{})

	set := e.callJSON("setWebhook", map[string]any{"url": hook.URL})
	require.True(t, set.OK)
	require.Equal(t, "Webhook was set", set.Description)
	conflict := e.callJSON("getUpdates", map[string]any{})
	require.Equal(t, http.StatusConflict, conflict.Status)
	require.Equal(t, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", conflict.Description)

	deleted := e.callJSON("deleteWebhook", map[string]any{})
	require.Equal(t, "Webhook was deleted", deleted.Description)
	require.True(t, e.callJSON("getUpdates", map[string]any{}).OK)
}

// hookCall is one webhook delivery as the receiving server saw it.
type hookCall struct {
	chat, updateID int64
	text, secret   string
	status         int
}

// recorder is a webhook receiver that answers with what decide says.
type recorder struct {
	mu     sync.Mutex
	calls  []hookCall
	decide func(u wireUpdate, earlier []hookCall) int
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var u wireUpdate
	if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rec.mu.Lock()
	status := rec.decide(u, rec.calls)
	rec.calls = append(rec.calls, hookCall{
		chat: u.chatID(), updateID: u.UpdateID, text: u.text(),
		secret: r.Header.Get("X-Telegram-Bot-Api-Secret-Token"), status: status,
	})
	rec.mu.Unlock()
	w.WriteHeader(status)
}

func (rec *recorder) snapshot() []hookCall {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]hookCall(nil), rec.calls...)
}

func TestWebhookKeepsPerChatOrderAcrossRetriesWithoutBlockingOtherChats(t *testing.T) {
	t.Parallel()
	const chatA, chatB = 1001, 2002
	rec := &recorder{decide: func(u wireUpdate, earlier []hookCall) int {
		if u.text() != "a1" {
			return http.StatusOK
		}
		// a1 fails its first attempt, and keeps failing until chat B got
		// through: B must not wait behind A's broken update.
		attempts, sawB := 0, false
		for _, c := range earlier {
			if c.text == "a1" {
				attempts++
			}
			sawB = sawB || c.chat == chatB
		}
		if attempts == 0 || !sawB {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}}
	hook := httptest.NewServer(rec)
	t.Cleanup(hook.Close)
	e := start(t, telegram.Config{RetryBase: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond})
	t.Cleanup(e.s.Close) // before hook.Close, which waits for deliveries in flight

	require.True(t, e.callJSON("setWebhook", map[string]any{"url": hook.URL, "secret_token": "s3cret-T_1"}).OK)
	e.s.SendText(chatA, "a1")
	e.s.SendText(chatA, "a2")
	e.s.SendText(chatB, "b1")

	require.Eventually(t, func() bool { return e.s.Stats().Deliveries == 3 }, 10*time.Second, 5*time.Millisecond)
	calls := rec.snapshot()

	var aTexts []string
	var aStatuses []int
	bDeliveredAt, a1DeliveredAt := -1, -1
	for i, c := range calls {
		require.Equal(t, "s3cret-T_1", c.secret)
		switch {
		case c.chat == chatB:
			bDeliveredAt = i
		case c.text == "a1" && c.status == http.StatusOK:
			a1DeliveredAt = i
		}
		if c.chat == chatA {
			aTexts = append(aTexts, c.text)
			aStatuses = append(aStatuses, c.status)
		}
	}
	// The failed update is retried, and a2 leaves only after a1 got its 2xx.
	require.GreaterOrEqual(t, len(aTexts), 3)
	require.Equal(t, "a2", aTexts[len(aTexts)-1])
	for i, text := range aTexts[:len(aTexts)-1] {
		require.Equal(t, "a1", text, "chat A's queue: %v", aTexts)
		wantStatus := http.StatusInternalServerError
		if i == len(aTexts)-2 {
			wantStatus = http.StatusOK
		}
		require.Equal(t, wantStatus, aStatuses[i], "chat A's queue: %v %v", aTexts, aStatuses)
	}
	require.Less(t, bDeliveredAt, a1DeliveredAt, "chat B waited for chat A")

	info := decode[struct {
		URL              string `json:"url"`
		Pending          int    `json:"pending_update_count"`
		MaxConnections   int    `json:"max_connections"`
		LastErrorDate    int64  `json:"last_error_date"`
		LastErrorMessage string `json:"last_error_message"`
	}](t, e.callJSON("getWebhookInfo", nil).Result)
	require.Equal(t, hook.URL, info.URL)
	require.Zero(t, info.Pending)
	require.Equal(t, 40, info.MaxConnections)
	require.Equal(t, "Wrong response from the webhook: 500 Internal Server Error", info.LastErrorMessage)
	require.NotZero(t, info.LastErrorDate)
	require.Equal(t, len(calls)-3, e.s.Stats().DeliveryFailures)
}

func TestWebhookTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	attempts := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		first := attempts == 1
		mu.Unlock()
		if first {
			// Hang past the sandbox's delivery timeout. The body must be read
			// for the server to notice the client hanging up.
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}
	}))
	t.Cleanup(hook.Close)
	e := start(t, telegram.Config{WebhookTimeout: 100 * time.Millisecond, RetryBase: 10 * time.Millisecond})
	t.Cleanup(e.s.Close)

	require.True(t, e.callJSON("setWebhook", map[string]any{"url": hook.URL}).OK)
	e.s.SendText(4, "hello")
	require.Eventually(t, func() bool { return e.s.Stats().Deliveries == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, 1, e.s.Stats().DeliveryFailures)
	info := decode[struct {
		LastErrorMessage string `json:"last_error_message"`
	}](t, e.callJSON("getWebhookInfo", nil).Result)
	require.Equal(t, "Read timeout expired", info.LastErrorMessage)
}

func TestWebhookMaxConnectionsBoundsParallelChats(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var mu sync.Mutex
	current, peak := 0, 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		current++
		peak = max(peak, current)
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body) // so that r.Context ends when the sandbox hangs up
		select {
		case <-release:
		case <-r.Context().Done():
		}
		mu.Lock()
		current--
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	e := start(t, telegram.Config{})
	t.Cleanup(e.s.Close)

	require.True(t, e.callJSON("setWebhook", map[string]any{"url": hook.URL, "max_connections": 2}).OK)
	for chat := int64(1); chat <= 5; chat++ {
		e.s.SendText(chat, "hi")
	}
	inFlight := func() int {
		mu.Lock()
		defer mu.Unlock()
		return current
	}
	require.Eventually(t, func() bool { return inFlight() == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Never(t, func() bool { return inFlight() > 2 }, 100*time.Millisecond, 5*time.Millisecond)
	close(release)
	require.Eventually(t, func() bool { return e.s.Stats().Deliveries == 5 }, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 2, peak)
}

func TestAllowedUpdatesFilterNewUpdates(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})

	require.True(t, e.callJSON("getUpdates", map[string]any{"allowed_updates": []string{"callback_query"}}).OK)
	e.s.SendText(8, "dropped")
	press := e.s.PressButton(8, 1, "kept")
	got := decode[[]wireUpdate](t, e.callJSON("getUpdates", map[string]any{}).Result)
	require.Len(t, got, 1)
	require.Equal(t, press, got[0].UpdateID)
}

func TestUpdateIDsStartWhereConfigured(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{FirstUpdateID: 1_764_250_000_000})
	require.EqualValues(t, 1_764_250_000_000, e.s.SendText(5, "/start"))
	require.EqualValues(t, 1_764_250_000_001, e.s.SendText(5, "hello"), "and grow from there")
}
