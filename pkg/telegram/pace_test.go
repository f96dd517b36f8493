package telegram_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// recordingPacer answers every reservation with wait (or err) and records
// the chats it was asked for, and those asked for without the bot's slot
// (ReserveChat).
type recordingPacer struct {
	wait time.Duration
	err  error

	mu        sync.Mutex
	chats     []int64
	chatsOnly []int64
}

func (p *recordingPacer) Reserve(_ context.Context, chatID int64) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chats = append(p.chats, chatID)
	return p.wait, p.err
}

func (p *recordingPacer) ReserveChat(_ context.Context, chatID int64) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chatsOnly = append(p.chatsOnly, chatID)
	return p.wait, p.err
}

func (p *recordingPacer) asked() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int64(nil), p.chats...)
}

func (p *recordingPacer) askedChatOnly() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int64(nil), p.chatsOnly...)
}

func newPacedClient(t *testing.T, url string, p telegram.Pacer, reg prometheus.Registerer) *telegram.Client {
	t.Helper()
	c, err := telegram.New(telegram.Config{APIURL: url, Token: token, Registerer: reg, Pacer: p})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// photo is a small PNG, as the sandbox checks an upload is an image.
func photo(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8))))
	return buf.Bytes()
}

func TestSendsNamesTheCallsFloodLimitsCount(t *testing.T) {
	t.Parallel()
	for _, m := range []string{"sendMessage", "sendPhoto", "sendInvoice", "SENDMESSAGE", "editMessageText",
		"editMessageReplyMarkup", "copyMessage", "forwardMessages"} {
		require.True(t, telegram.Sends(m), m)
	}
	for _, m := range []string{"sendChatAction", "getMe", "answerCallbackQuery", "answerPreCheckoutQuery",
		"setWebhook", "deleteMessage", "getUpdates"} {
		require.False(t, telegram.Sends(m), m)
	}
}

// Every way a service sends — the client's Call (JSON, a numeric chat_id),
// its Upload (a multipart form), and telebot over HTTPClient (JSON whose
// values are strings, and a multipart upload streamed through a pipe) —
// reserves the chat's slot first, and the request reaches Telegram whole.
func TestEverySendingPathTakesItsChatsTurn(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	pacer := &recordingPacer{}
	c := newPacedClient(t, sb.URL(), pacer, nil)
	ctx := context.Background()

	require.NoError(t, c.Call(ctx, "sendMessage", map[string]any{"chat_id": int64(701), "text": "by Call"}, nil))
	require.NoError(t, c.Upload(ctx, "sendPhoto", map[string]any{"chat_id": "702", "caption": "by Upload"},
		"photo", photo(t), nil))

	apiURL, tok := c.Endpoint()
	tb, err := tele.NewBot(tele.Settings{URL: apiURL, Token: tok, Offline: true, Client: c.HTTPClient(ctx)})
	require.NoError(t, err)
	_, err = tb.Send(&tele.Chat{ID: 703}, "by telebot")
	require.NoError(t, err)
	_, err = tb.Send(&tele.Chat{ID: 704}, &tele.Photo{File: tele.FromReader(bytes.NewReader(photo(t))), Caption: "a telebot upload"})
	require.NoError(t, err)

	// Calls that post nothing in a chat are not paced.
	_, err = c.GetMe(ctx)
	require.NoError(t, err)

	require.Equal(t, []int64{701, 702, 703, 704}, pacer.asked())
	for chat, text := range map[int64]string{701: "by Call", 702: "by Upload", 703: "by telebot", 704: "a telebot upload"} {
		h := sb.History(chat)
		require.Len(t, h, 1, "chat %d", chat)
		require.Equal(t, text, h[0].Text, "chat %d", chat)
	}
	require.Equal(t, photo(t), sb.History(704)[0].Photo, "the upload arrived with its photo")
}

func TestASendWaitsForItsSlotAndGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	c := newPacedClient(t, sb.URL(), &recordingPacer{wait: 300 * time.Millisecond}, nil)

	start := time.Now()
	require.NoError(t, c.Call(context.Background(), "sendMessage", map[string]any{"chat_id": 801, "text": "later"}, nil))
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "sent before its slot")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, "sendMessage", map[string]any{"chat_id": 802, "text": "too late"}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "chat's turn")
	require.Empty(t, sb.History(802), "a call whose context ended while it waited must not be sent")

	// The same through telebot's path.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequest(http.MethodPost, sb.URL()+"/bot"+token+"/sendMessage", strings.NewReader(`{"chat_id":"803","text":"too late"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	_, err = c.HTTPClient(ctx).Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Empty(t, sb.History(803))
}

// A budget that cannot be read (its database is down) does not stop the bot
// talking: the call goes, and the failure is counted.
func TestAPacerFailureLetsTheSendGoAndIsCounted(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	reg := prometheus.NewRegistry()
	c := newPacedClient(t, sb.URL(), &recordingPacer{err: errors.New("connection refused")}, reg)

	require.NoError(t, c.Call(context.Background(), "sendMessage", map[string]any{"chat_id": 901, "text": "anyway"}, nil))
	require.Len(t, sb.History(901), 1)
	v, _ := obstest.Metric(t, reg, "vpnbot_telegram_pace_failures_total", nil)
	require.Equal(t, 1.0, v)
}

// A chat given by @username (a channel) has no budget of its own here; the
// call goes unpaced.
func TestAChatByUsernameIsNotPaced(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	pacer := &recordingPacer{}
	c := newPacedClient(t, sb.URL(), pacer, nil)
	_ = c.Call(context.Background(), "sendMessage", map[string]any{"chat_id": "@news", "text": "hello"}, nil)
	require.Empty(t, pacer.asked())
}

// A paid broadcast's message (allow_paid_broadcast true), by any path,
// takes its chat's slot only: the bot-wide budget is the free limit's. A
// false or absent flag takes both, as any other send.
func TestAPaidBroadcastTakesItsChatsTurnOnly(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	pacer := &recordingPacer{}
	c := newPacedClient(t, sb.URL(), pacer, nil)
	ctx := context.Background()

	require.NoError(t, c.Call(ctx, "sendMessage", map[string]any{"chat_id": 1001, "text": "paid", "allow_paid_broadcast": true}, nil))
	require.NoError(t, c.Upload(ctx, "sendPhoto", map[string]any{"chat_id": 1002, "allow_paid_broadcast": true},
		"photo", photo(t), nil))
	req, err := http.NewRequest(http.MethodPost, sb.URL()+"/bot"+token+"/sendMessage",
		strings.NewReader(`{"chat_id":"1003","text":"paid, as text","allow_paid_broadcast":"true"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTPClient(ctx).Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, c.Call(ctx, "sendMessage", map[string]any{"chat_id": 1004, "text": "free", "allow_paid_broadcast": false}, nil))
	require.NoError(t, c.Call(ctx, "sendMessage", map[string]any{"chat_id": 1005, "text": "free"}, nil))

	require.Equal(t, []int64{1001, 1002, 1003}, pacer.askedChatOnly())
	require.Equal(t, []int64{1004, 1005}, pacer.asked())
	require.Equal(t, 3, sb.Stats().PaidBroadcasts, "the paid messages reached Telegram as paid")
}
