package watcher_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
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
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/payment-watcher/internal/watcher"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const token = "777:payment-watcher-test-token"

// env is one test's world: a migrated schema, an embedded NATS with the
// streams declared, and a Crypto Pay sandbox whose webhooks are stored on
// payments.cryptopay the way the gateway stores them.
type env struct {
	db      *pgdbtest.DB
	pool    *pgxpool.Pool
	shop    *shop.Shop
	js      jetstream.JetStream
	natsURL string
	sandbox *sandboxcp.Server
	cp      *cryptopay.Client
	lockKey int64
	logs    *obstest.LogBuffer
	nextID  int64
	mu      sync.Mutex
}

func newEnv(t *testing.T, webhooks bool) *env {
	t.Helper()
	e := &env{db: pgdbtest.New(t), logs: &obstest.LogBuffer{}, nextID: 1000}
	e.pool = e.db.Pool
	e.shop = shop.New(e.pool, shop.Config{})
	ns := bustest.NewServer(t)
	e.natsURL = ns.URL()
	_, e.js = bustest.Connect(t, e.natsURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, bus.DeclareStreams(ctx, e.js, events.StreamConfig()))
	require.NoError(t, bus.DeclareStreams(ctx, e.js, outbox.StreamConfig()))

	var b [8]byte
	_, _ = rand.Read(b[:])
	// Advisory locks are database-wide: each test contends for its own.
	e.lockKey = int64(binary.BigEndian.Uint64(b[:]) >> 1)

	e.sandbox = sandboxcp.New(sandboxcp.Config{Token: token, RetryBase: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, Log: zerolog.Nop()})
	require.NoError(t, e.sandbox.Start("127.0.0.1:0"))
	t.Cleanup(e.sandbox.Close)
	if webhooks {
		gw := httptest.NewServer(http.HandlerFunc(e.gateway))
		t.Cleanup(gw.Close)
		e.sandbox.SetWebhook(gw.URL)
	}
	cp, err := cryptopay.New(cryptopay.Config{BaseURL: e.sandbox.URL(), Token: token, Timeout: 2 * time.Second})
	require.NoError(t, err)
	e.cp = cp
	return e
}

// gateway does what the gateway does with a Crypto Pay webhook: verify,
// store on payments.cryptopay under the update's id, answer 200.
func (e *env) gateway(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = cryptopay.VerifyWebhook(token, body, r.Header.Get(cryptopay.SignatureHeader))
	}
	var upd cryptopay.Update
	if err == nil {
		upd, err = cryptopay.ParseUpdate(body)
	}
	if err == nil {
		_, err = bus.Publish(r.Context(), e.js, events.SubjectCryptoPayPayments, body, "cryptopay:"+strconv.FormatInt(upd.UpdateID, 10))
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// order makes a pending Crypto Pay order of plan m1 (30 days) for a new user,
// with its invoice at the sandbox; it returns the order and the sandbox's id.
func (e *env) order(t *testing.T) (shop.Invoice, int64) {
	t.Helper()
	return e.orderWithPayload(t, shop.StarsPayload)
}

// orderWithPayload is order with the payload of the invoice at the sandbox
// made by payload from the order's id.
func (e *env) orderWithPayload(t *testing.T, payload func(orderID int64) string) (shop.Invoice, int64) {
	t.Helper()
	e.mu.Lock()
	e.nextID++
	userID := e.nextID
	e.mu.Unlock()
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `INSERT INTO users (id, chat_id, language) VALUES ($1, $1, 'ru')`, userID)
	require.NoError(t, err)
	inv, err := e.shop.CreateOrder(ctx, userID, "m1", shop.ProviderCryptoPay)
	require.NoError(t, err)
	remote, err := e.cp.CreateInvoice(ctx, cryptopay.CreateInvoice{AmountUSD: inv.PriceUSD, Payload: payload(inv.ID), ExpiresIn: time.Hour})
	require.NoError(t, err)
	require.NoError(t, e.shop.AttachExternal(ctx, inv.ID, strconv.FormatInt(remote.InvoiceID, 10), remote.BotInvoiceURL))
	inv.ExternalID = strconv.FormatInt(remote.InvoiceID, 10)
	return inv, remote.InvoiceID
}

// replica is one running payment-watcher.
type replica struct {
	reg     *prometheus.Registry
	elector *pgdb.Elector
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

type replicaOpts struct {
	poll     bool          // run the singleton poller
	checks   bool          // answer payment checks, on a connection of its own
	interval time.Duration // poll interval (default 100ms)
	now      func() time.Time
	// answers, when set, stands between the watcher and the sandbox's
	// client, for a Crypto Pay that answers what it was not asked.
	answers func(watcher.Invoices) watcher.Invoices
}

// startReplica runs a watcher as main does: the event consumer, and with
// opts.poll the poller under leader election.
func (e *env) startReplica(t *testing.T, opts replicaOpts) *replica {
	t.Helper()
	if opts.interval == 0 {
		opts.interval = 100 * time.Millisecond
	}
	r := &replica{reg: prometheus.NewRegistry(), done: make(chan struct{})}
	log := obstest.NewLogger(e.logs)
	cp, err := cryptopay.New(cryptopay.Config{BaseURL: e.sandbox.URL(), Token: token, Timeout: 2 * time.Second, Registerer: r.reg})
	require.NoError(t, err)
	var invoices watcher.Invoices = cp
	if opts.answers != nil {
		invoices = opts.answers(cp)
	}
	w, err := watcher.New(watcher.Config{
		RetryBase: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, FetchWait: 300 * time.Millisecond,
		HandlerTimeout: 5 * time.Second, NowFunc: opts.now,
	}, watcher.Deps{Shop: e.shop, CryptoPay: invoices, JS: e.js, Log: log, Registerer: r.reg})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Consumer().Run(ctx) })
	if opts.checks {
		nc, _ := bustest.Connect(t, e.natsURL)
		sub, err := w.ServeChecks(nc)
		require.NoError(t, err)
		wg.Go(func() {
			<-ctx.Done()
			_ = sub.Drain()
		})
	}
	if opts.poll {
		r.elector = pgdb.NewElector(e.pool.Config().ConnConfig, e.lockKey, "payment-watcher", log, r.reg)
		r.elector.RetryInterval = 100 * time.Millisecond
		poller, err := worker.New(worker.Config{
			Name: "payment-watcher", Interval: opts.interval, IterationTimeout: 5 * time.Second,
			StopGrace: time.Second, Singleton: true, Elector: r.elector,
		}, w.Poll, log, r.reg)
		require.NoError(t, err)
		wg.Go(func() { _ = poller.Run(ctx) })
	}
	go func() { wg.Wait(); close(r.done) }()
	t.Cleanup(r.stop)
	require.Eventually(t, func() bool { return w.Consumer().Ready(context.Background()) == nil }, 10*time.Second, 10*time.Millisecond)
	return r
}

func (r *replica) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
	})
}

func (r *replica) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := obstest.Metric(t, r.reg, name, labels)
	return v
}

// status is the order's status in the database.
func (e *env) status(t *testing.T, id int64) string {
	t.Helper()
	inv, err := e.shop.Invoice(context.Background(), id)
	require.NoError(t, err)
	return inv.Status
}

// waitStatus waits until the order has the status.
func (e *env) waitStatus(t *testing.T, id int64, want string, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return e.status(t, id) == want }, within, 20*time.Millisecond,
		"invoice %d never became %s", id, want)
}

// subjectMsgs returns the messages of stream on subjects matching filter.
func (e *env) subjectMsgs(t *testing.T, stream, filter string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(t, err)
		if matches(filter, m.Subject) {
			out = append(out, m)
		}
	}
	return out
}

// matches is NATS subject matching for the filters the tests use: exact, or
// ending in ".>".
func matches(filter, subject string) bool {
	if len(filter) >= 2 && filter[len(filter)-2:] == ".>" {
		prefix := filter[:len(filter)-1]
		return len(subject) > len(prefix) && subject[:len(prefix)] == prefix
	}
	return filter == subject
}
