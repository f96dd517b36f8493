package updates_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/updates"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	cryptoPayToken = "1234:CRYPTO-secret"
	tokenSecret    = "TEST-secret-token"
	token          = "123456:" + tokenSecret
	botUsername    = "vpnbot_test_bot"
)

// env is one test's (or benchmark's) world: a fresh schema, an embedded
// NATS, and the Telegram and Crypto Pay sandboxes, with a pump that plays
// the gateway (getUpdates → JetStream, partitioned by chat, Nats-Msg-Id
// "<bot id>:<update_id>").
type env struct {
	t       testing.TB
	db      *pgdbtest.DB
	natsURL string
	js      jetstream.JetStream
	sb      *sandboxtg.Server
	cp      *sandboxcp.Server
	// admin is the Telegram user id the replicas take for an admin.
	admin      int64
	botID      int64
	partitions int
	client     *http.Client
	offset     int64
	logs       *obstest.LogBuffer
	// log is what the replicas log to: logs, unless a benchmark silences it.
	log zerolog.Logger
}

func newEnv(t testing.TB, partitions int) *env {
	t.Helper()
	e := &env{
		t:          t,
		db:         pgdbtest.New(t),
		partitions: partitions,
		client:     &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second},
		logs:       &obstest.LogBuffer{},
	}
	e.log = obstest.NewLogger(e.logs)
	var err error
	e.botID, err = telegram.BotID(token)
	require.NoError(t, err)
	ns := bustest.NewServer(t)
	e.natsURL = ns.URL()
	_, e.js = bustest.Connect(t, e.natsURL)
	require.NoError(t, bus.DeclareStreams(e.ctx(10*time.Second), e.js,
		telegram.UpdatesStreamConfig(), bus.DLQStreamConfig(), events.StreamConfig(), outbox.StreamConfig()))

	// Rate limits off: what is measured is the handler, not the sandbox's
	// imitation of Telegram's flood control.
	e.sb = sandboxtg.New(sandboxtg.Config{Token: token, BotUsername: botUsername, GlobalRate: -1, ChatRate: -1})
	require.NoError(t, e.sb.Start("127.0.0.1:0"))
	e.cp = sandboxcp.New(sandboxcp.Config{Token: cryptoPayToken, Log: zerolog.Nop()})
	require.NoError(t, e.cp.Start("127.0.0.1:0"))
	e.admin = 777
	t.Cleanup(func() {
		e.cp.Close()
		e.sb.Close()
		e.client.CloseIdleConnections()
		// Whatever happened, the bot token never reaches the logs.
		require.NotContains(t, e.logs.String(), tokenSecret)
		if logs := e.logs.String(); t.Failed() && logs != "" {
			t.Logf("service logs:\n%s", logs)
		}
	})
	return e
}

// ctx is a context for one step of the test.
func (e *env) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	e.t.Cleanup(cancel)
	return ctx
}

// instance is one bot-handler replica.
type instance struct {
	consumer *bus.Consumer
	handler  *updates.Handler
	reg      *prometheus.Registry
	stopFunc func()
}

// stop stops the replica: its handlers in flight finish first.
func (i *instance) stop() { i.stopFunc() }

// start runs a bot-handler replica on pool with the given handler deadline
// and handler options, on NATS connections of its own.
func (e *env) start(pool *pgxpool.Pool, handlerTimeout time.Duration, opts ...updates.Option) *instance {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	h, release := e.newHandler(pool, reg, opts...)
	c, stop := e.consume(pool, h, handlerTimeout, reg, release)
	return &instance{consumer: c, handler: h, reg: reg, stopFunc: stop}
}

// consume runs h as a replica's partitioned consumer of TG_UPDATES, gated
// on pool, until stop (or the test's end), which then calls release.
func (e *env) consume(pool *pgxpool.Pool, h *updates.Handler, handlerTimeout time.Duration, reg prometheus.Registerer,
	release func()) (c *bus.Consumer, stop func()) {
	e.t.Helper()
	_, js := bustest.Connect(e.t, e.natsURL)
	c, err := bus.NewConsumer(js, bus.ConsumerConfig{
		Mode:           bus.Partitioned,
		Stream:         telegram.UpdatesStream,
		Subject:        telegram.UpdatesSubjectPrefix,
		Durable:        updates.Durable,
		Partitions:     e.partitions,
		HandleFunc:     h.Handle,
		HandlerTimeout: handlerTimeout,
		MaxDeliver:     10,
		RetryBase:      100 * time.Millisecond,
		RetryMax:       time.Second,
		FetchWait:      500 * time.Millisecond,
		GateFunc:       pgdb.Ping(pool),
	}, e.log, reg)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			release()
		})
	}
	e.t.Cleanup(stop)
	return c, stop
}

// newHandler builds the update handler of a replica, with its bot, on pool
// and reg, with opts; release lets go of the connections its Telegram and
// Crypto Pay clients keep, once nothing calls the handler any more.
func (e *env) newHandler(pool *pgxpool.Pool, reg prometheus.Registerer, opts ...updates.Option) (h *updates.Handler, release func()) {
	e.t.Helper()
	users := store.New(pool)
	cpHTTP := &http.Transport{}
	cp, err := cryptopay.New(cryptopay.Config{BaseURL: e.cp.URL(), Token: cryptoPayToken, HTTPClient: &http.Client{Transport: cpHTTP}})
	require.NoError(e.t, err)
	nc, events := bustest.Connect(e.t, e.natsURL)
	client, err := telegram.New(telegram.Config{APIURL: e.sb.URL(), Token: token, Registerer: reg})
	require.NoError(e.t, err)
	b, err := bot.New(e.ctx(10*time.Second), bot.Config{
		Client:        client,
		Users:         users,
		Shop:          shop.New(pool, shop.Config{}),
		CryptoPay:     cp,
		CryptoAssets:  []string{"USDT", "TON"},
		PaymentChecks: bot.NATSPaymentChecks{NC: nc},
		Activations:   bot.StreamActivations{JS: events},
		Broadcasts:    users,
		Outbox:        bot.StreamOutbox{JS: events},
		AdminIDs:      []int64{e.admin},
		Support:       "@vpnbot_support",
		Log:           e.log,
	})
	require.NoError(e.t, err)
	h, err = updates.NewHandler(e.botID, users, b, e.log, reg, opts...)
	require.NoError(e.t, err)
	return h, func() {
		client.Close()
		cpHTTP.CloseIdleConnections()
	}
}

// sent is a user's message as the gateway published it.
type sent struct {
	UpdateID  int64
	ChatID    int64
	MessageID int64
	MsgID     string
	Subject   string
	Raw       json.RawMessage
}

// say makes user write text to the bot in the sandbox; forward publishes it.
func (e *env) say(user int64, text string) {
	e.sb.SendText(user, text)
}

// forward plays the gateway: it takes every update the sandbox holds and
// publishes it to TG_UPDATES, in order, with the headers that say what the
// gateway read of it.
func (e *env) forward() []sent {
	e.t.Helper()
	return e.forwardWith(nil)
}

// forwardWith is forward with each update passed through change first (nil
// leaves them as they are), as a forger between Telegram and us would.
func (e *env) forwardWith(change func(json.RawMessage) json.RawMessage) []sent {
	e.t.Helper()
	var out []sent
	for {
		batch := e.getUpdates()
		if len(batch) == 0 {
			return out
		}
		for _, raw := range batch {
			if change != nil {
				raw = change(raw)
			}
			u, meta, err := telegram.DecodeUpdate(raw)
			require.NoError(e.t, err)
			var messageID int64
			if u.Message != nil {
				messageID = int64(u.Message.ID)
			}
			s := sent{
				UpdateID:  meta.UpdateID,
				ChatID:    meta.ChatID,
				MessageID: messageID,
				MsgID:     fmt.Sprintf("%d:%d", e.botID, meta.UpdateID),
				Subject:   telegram.UpdatesSubject(bus.Partition(meta.RoutingKey(), e.partitions)),
				Raw:       raw,
			}
			e.publishMsg(&nats.Msg{Subject: s.Subject, Data: s.Raw, Header: meta.Header()}, s.MsgID)
			out = append(out, s)
		}
	}
}

// getUpdates takes the next updates the sandbox holds, confirming them.
func (e *env) getUpdates() []json.RawMessage {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"offset": e.offset, "timeout": 0, "limit": 100})
	require.NoError(e.t, err)
	resp, err := e.client.Post(e.sb.URL()+"/bot"+token+"/getUpdates", "application/json", bytes.NewReader(body))
	require.NoError(e.t, err)
	var answer struct {
		OK     bool              `json:"ok"`
		Result []json.RawMessage `json:"result"`
	}
	err = json.NewDecoder(resp.Body).Decode(&answer)
	_ = resp.Body.Close()
	require.NoError(e.t, err)
	require.True(e.t, answer.OK)
	for _, raw := range answer.Result {
		_, meta, err := telegram.DecodeUpdate(raw)
		require.NoError(e.t, err)
		e.offset = meta.UpdateID + 1
	}
	return answer.Result
}

// publish publishes data without headers, as an older gateway did.
func (e *env) publish(subject string, data []byte, msgID string) {
	e.t.Helper()
	e.publishMsg(&nats.Msg{Subject: subject, Data: data}, msgID)
}

func (e *env) publishMsg(msg *nats.Msg, msgID string) {
	e.t.Helper()
	dup, err := bus.PublishMsg(e.ctx(5*time.Second), e.js, msg, msgID)
	require.NoError(e.t, err)
	require.False(e.t, dup, "publish of %s was taken for a duplicate", msgID)
}

// waitReplies waits until the bot has sent n messages to chat.
func (e *env) waitReplies(chat int64, n int, within time.Duration) []sandboxtg.Message {
	e.t.Helper()
	msgs, err := e.sb.WaitMessages(e.ctx(within), chat, n)
	require.NoError(e.t, err)
	return msgs
}

// requireAnsweredInOrder checks that chat got exactly one answer per message,
// each a reply to its message, in the order of the messages.
func (e *env) requireAnsweredInOrder(chat int64, messages []sent) {
	e.t.Helper()
	var want, got []int64
	for _, m := range messages {
		if m.ChatID == chat {
			want = append(want, m.MessageID)
		}
	}
	for _, m := range e.sb.Messages(chat) {
		got = append(got, m.ReplyTo)
	}
	require.Equal(e.t, want, got, "replies in chat %d, by the message they answer", chat)
}

func (e *env) inboxCount() int {
	e.t.Helper()
	return e.count(`SELECT count(*) FROM processed_updates`)
}

// count is the number a count(*) query reads in the test's schema.
func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.db.Pool.QueryRow(e.ctx(5*time.Second), sql, args...).Scan(&n))
	return n
}

func (e *env) dlq() []bus.DLQEntry {
	e.t.Helper()
	entries, err := bus.ListDLQ(e.ctx(5*time.Second), e.js, telegram.UpdatesStream, 0)
	require.NoError(e.t, err)
	return entries
}

// streamEmpty reports whether every published update has been settled
// (TG_UPDATES is a work queue: acknowledged messages leave it).
func (e *env) streamEmpty() bool {
	e.t.Helper()
	return e.streamMsgs(telegram.UpdatesStream) == 0
}

// streamMsgs is how many messages stream holds.
func (e *env) streamMsgs(stream string) int {
	e.t.Helper()
	s, err := e.js.Stream(e.ctx(5*time.Second), stream)
	require.NoError(e.t, err)
	info, err := s.Info(e.ctx(5 * time.Second))
	require.NoError(e.t, err)
	return int(info.State.Msgs)
}

// tracedPool is a pool of the code under test on the test's schema that
// shows tracer every statement it sends.
func (e *env) tracedPool(tracer pgx.QueryTracer) *pgxpool.Pool {
	e.t.Helper()
	cfg, err := pgxpool.ParseConfig(e.db.DSN)
	require.NoError(e.t, err)
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(e.ctx(5*time.Second), cfg)
	require.NoError(e.t, err)
	e.t.Cleanup(pool.Close)
	return pool
}

// settle waits until every published update is settled: acknowledged
// (after its inbox row was written) or dead-lettered.
func (e *env) settle() {
	e.t.Helper()
	require.Eventually(e.t, e.streamEmpty, 10*time.Second, 20*time.Millisecond, "updates still in TG_UPDATES")
}

// proxiedPool is a pool of the code under test that reaches the test's
// schema through a proxy the test can cut.
func (e *env) proxiedPool() (*pgxpool.Pool, *pgdbtest.Proxy) {
	e.t.Helper()
	cfg, err := pgx.ParseConfig(e.db.DSN)
	require.NoError(e.t, err)
	proxy := pgdbtest.NewProxy(e.t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	pool, err := pgdb.Open(e.ctx(5*time.Second), config.DB{DatabaseURL: proxy.DSN(e.db.DSN), PoolMaxSize: 4}, "bot-handler-test", zerolog.Nop(), nil)
	require.NoError(e.t, err)
	e.t.Cleanup(pool.Close)
	return pool, proxy
}

// partner returns a user other than user whose chat maps to the same partition.
func (e *env) partner(user int64) int64 {
	p := bus.Partition(user, e.partitions)
	for other := user + 1; ; other++ {
		if bus.Partition(other, e.partitions) == p {
			return other
		}
	}
}

// counter reads the value of a counter with one label on reg (0 before it
// counted anything).
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	v, _ := obstest.Metric(t, reg, name, map[string]string{label: value})
	return v
}
