package sender_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/sender/internal/sender"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const token = "123456:TEST-token"

// call is one Bot API request as the sandbox saw it.
type call struct {
	chatID     int64
	paid       bool // sent with allow_paid_broadcast
	status     int
	start, end time.Time
}

// recorder sits in front of the sandbox and notes every call's chat, answer
// and timing, which the sandbox itself does not report per chat.
type recorder struct {
	next  http.Handler
	mu    sync.Mutex
	calls []call
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	c := call{start: time.Now()}
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	var p struct {
		ChatID int64 `json:"chat_id"`
		Paid   bool  `json:"allow_paid_broadcast"`
	}
	_ = json.Unmarshal(body, &p) // multipart uploads are not recorded by chat
	c.chatID, c.paid = p.ChatID, p.Paid
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r.next.ServeHTTP(sw, req)
	c.status, c.end = sw.status, time.Now()
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// of returns the calls to chatID (all chats when 0), in the order they ended.
func (r *recorder) of(chatID int64) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if chatID == 0 || c.chatID == chatID {
			out = append(out, c)
		}
	}
	return out
}

// sent returns the chats of the accepted calls, in the order they ended.
func (r *recorder) sent() []int64 {
	var out []int64
	for _, c := range r.of(0) {
		if c.status == http.StatusOK {
			out = append(out, c.chatID)
		}
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// env is one test's world: a fresh schema, an embedded NATS with the OUTBOX
// and DLQ streams, and the Telegram sandbox with its flood limits on.
type env struct {
	db     *pgdbtest.DB
	js     jetstream.JetStream
	sb     *sandboxtg.Server
	rec    *recorder
	apiURL string
	// pacer, when set by withPacer, is the shared budget the senders'
	// clients take their slots from, as in production.
	pacer telegram.Pacer
	// pool, when set, is the senders' database instead of db.Pool: the
	// sender's own role (db.As), as in production.
	pool *pgxpool.Pool
}

// withPacer makes the senders built from now on take their slots from the
// shared budget (chatpace) in the test's schema, with limits s.
func (e *env) withPacer(t testing.TB, s chatpace.Settings) {
	t.Helper()
	b, err := chatpace.New(e.senderPool(), s)
	require.NoError(t, err)
	e.pacer = b
}

// senderPool is the database the senders use.
func (e *env) senderPool() *pgxpool.Pool {
	if e.pool != nil {
		return e.pool
	}
	return e.db.Pool
}

func newEnv(t testing.TB, sb sandboxtg.Config) *env {
	t.Helper()
	e := &env{db: pgdbtest.New(t)}
	srv := bustest.NewServer(t)
	_, e.js = bustest.Connect(t, srv.URL())
	ctx := context.Background()
	require.NoError(t, bus.DeclareStreams(ctx, e.js, outbox.StreamConfig()))
	require.NoError(t, bus.DeclareStreams(ctx, e.js, bus.DLQStreamConfig()))

	sb.Token = token
	e.sb = sandboxtg.New(sb)
	e.rec = &recorder{next: e.sb.Handler()}
	api := httptest.NewServer(e.rec)
	t.Cleanup(api.Close)
	t.Cleanup(e.sb.Close) // first: it releases hung calls, so api.Close can return
	e.apiURL = api.URL
	return e
}

// instance is one running sender with its own metrics and logs, as a
// separate process would have.
type instance struct {
	s    *sender.Sender
	reg  *prometheus.Registry
	logs *obstest.LogBuffer
	stop func() // cancels Lead and waits for it to return
}

// fastConfig is a sender configuration whose delays suit tests.
func fastConfig(rate, chatRate float64) sender.Config {
	return sender.Config{
		Rate: rate, ChatRate: chatRate, MaxAttempts: 3,
		AckWait: 3 * time.Second, FetchWait: 200 * time.Millisecond,
		RetryBase: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	}
}

// newInstance builds a sender; run it with start, or under an election.
func (e *env) newInstance(t testing.TB, cfg sender.Config) *instance {
	t.Helper()
	in := &instance{reg: prometheus.NewRegistry(), logs: &obstest.LogBuffer{}}
	client, err := telegram.New(telegram.Config{APIURL: e.apiURL, Token: token, Registerer: in.reg, Pacer: e.pacer})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	in.s, err = sender.New(cfg, e.js, e.senderPool(), client, obstest.NewLogger(in.logs), in.reg)
	require.NoError(t, err)
	return in
}

// start runs a new sender's Lead until stop or the end of the test.
func (e *env) start(t testing.TB, cfg sender.Config) *instance {
	t.Helper()
	in := e.newInstance(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.s.Lead(ctx) }()
	var once sync.Once
	in.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(15 * time.Second):
				t.Fatal("Lead did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(in.stop)
	return in
}

// metric is a series' value, 0 when it does not exist yet.
func (in *instance) metric(t testing.TB, name string, labels map[string]string) float64 {
	v, _ := obstest.Metric(t, in.reg, name, labels)
	return v
}

func (in *instance) sends(t testing.TB, outcome string) float64 {
	return in.metric(t, "vpnbot_sender_sends_total", map[string]string{"outcome": outcome})
}

func cmd(chatID int64, text string, p vpnbotv1.Priority) *vpnbotv1.SendMessage {
	return &vpnbotv1.SendMessage{
		DedupId:  "test:" + strconv.FormatInt(chatID, 10) + ":" + text,
		ChatId:   chatID,
		Text:     text,
		Priority: p,
	}
}

func (e *env) publish(t testing.TB, m *vpnbotv1.SendMessage) {
	t.Helper()
	dup, err := outbox.Publish(context.Background(), e.js, m)
	require.NoError(t, err)
	require.False(t, dup, "dedup id %s published twice", m.GetDedupId())
}

// texts is what a chat received, in order.
func (e *env) texts(chatID int64) []string {
	var out []string
	for _, m := range e.sb.Messages(chatID) {
		out = append(out, m.Text)
	}
	return out
}

// waitDelivered waits until each chat in want has received at least as many
// messages as want says.
func (e *env) waitDelivered(t testing.TB, want map[int64]int, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		for chat, n := range want {
			if len(e.sb.Messages(chat)) < n {
				return false
			}
		}
		return true
	}, timeout, 20*time.Millisecond, "not every chat received its messages")
}
