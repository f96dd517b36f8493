package activation_test

import (
	"cmp"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/outbox/outboxtest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/pkg/worker/workertest"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	waitFor = 10 * time.Second
	poll    = 10 * time.Millisecond
)

// env is one test's database, NATS, shop and sandbox panel.
type env struct {
	db   *pgdbtest.DB
	js   jetstream.JetStream
	shop *shop.Shop
	sb   *vpntest.Sandbox
	// panel is the sandbox's adapter; a test may wrap it.
	panel vpn.Panel
}

// newEnv takes a testing.TB so that the benchmarks share it; kind is the
// panel's (vpn.KindOutline, ...).
func newEnv(tb testing.TB, kind string) *env {
	tb.Helper()
	e := &env{db: pgdbtest.New(tb)}
	srv := bustest.NewServer(tb)
	_, e.js = bustest.Connect(tb, srv.URL())
	require.NoError(tb, bus.DeclareStreams(tb.Context(), e.js, events.StreamConfig()))
	require.NoError(tb, bus.DeclareStreams(tb.Context(), e.js, outbox.StreamConfig()))
	e.shop = shop.New(e.db.Pool, shop.Config{})
	e.sb = vpntest.StartSandbox(tb, kind)
	e.panel = e.sb.Panel
	return e
}

// fleet is the fleet of the env's panel, allowing calls requests at once
// (the default concurrency for 0), as vpn.PanelEnv makes it.
func (e *env) fleet(tb testing.TB, calls int) *vpn.Fleet {
	tb.Helper()
	f, err := vpn.NewFleet([]vpn.Panel{vpn.Limit(e.panel, cmp.Or(calls, activation.DefaultConcurrency))},
		[]vpn.MemberConfig{{Name: e.sb.Kind}}, vpn.FleetOptions{Failover: true})
	require.NoError(tb, err)
	return f
}

// instance is one activation replica with what on-call sees of it.
type instance struct {
	a    *activation.Activator
	logs *obstest.LogBuffer
	reg  *prometheus.Registry
}

func (e *env) instance(t *testing.T, cfg activation.Config) *instance {
	t.Helper()
	in := &instance{logs: &obstest.LogBuffer{}, reg: prometheus.NewRegistry()}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 20 * time.Millisecond
	}
	a, err := activation.New(cfg, e.shop, e.db.Pool, e.js, e.fleet(t, cfg.Concurrency), obstest.NewLogger(in.logs), in.reg)
	require.NoError(t, err)
	in.a = a
	return in
}

// trial registers a user (as /start does) who takes the trial.
func (e *env) trial(t *testing.T, userID int64, lang string) shop.Subscription {
	t.Helper()
	return e.trialIn(t, t.Context(), userID, lang)
}

// trialIn is trial, the trial taken in ctx (a span's, for a trace).
func (e *env) trialIn(t *testing.T, ctx context.Context, userID int64, lang string) shop.Subscription {
	t.Helper()
	_, err := e.db.Pool.Exec(ctx, `INSERT INTO users (id, chat_id, language) VALUES ($1, $1, $2)`, userID, lang)
	require.NoError(t, err)
	sub, err := e.shop.StartTrial(ctx, userID)
	require.NoError(t, err)
	return sub
}

// keys counts the bot's accounts on the sandbox panel.
func (e *env) keys() int { return e.sb.Accounts() }

// fail makes the panel's calls fail: 503, or hang until cleared.
func (e *env) fail(hang bool) { e.sb.Fail(hang) }

func (e *env) clearFaults() { e.sb.Clear() }

// messages returns the commands in the OUTBOX, oldest first.
func (e *env) messages(t *testing.T) []*vpnbotv1.SendMessage {
	t.Helper()
	return outboxtest.Commands(t, e.js)
}

// access is the recorded access of a subscription.
func (e *env) access(t *testing.T, id int64) *shop.Access {
	t.Helper()
	sub, err := e.shop.Subscription(t.Context(), id)
	require.NoError(t, err)
	return sub.Access
}

func iterate(t *testing.T, in *instance) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	res, err := in.a.Iterate(ctx)
	require.NoError(t, err)
	return res
}

// iterateFailing is an iteration in which activations fail: it must fail,
// saying how many of those it tried.
func iterateFailing(t *testing.T, in *instance, failed, tried int) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	res, err := in.a.Iterate(ctx)
	require.ErrorContains(t, err, fmt.Sprintf("%d of %d activations failed", failed, tried))
	require.Equal(t, failed, res["failed"])
	return res
}

// runWorker runs in's iterations in the worker runtime, its metrics on
// in.reg, until the test ends.
func runWorker(t *testing.T, in *instance, cfg worker.Config) {
	t.Helper()
	w, err := worker.New(cfg, in.a.Iterate, obstest.NewLogger(in.logs), in.reg)
	require.NoError(t, err)
	workertest.Run(t, w)
}

var userSeq atomic.Int64

// newUserID is a user id unique within the test binary.
func newUserID() int64 { return 1_000_000 + userSeq.Add(1) }

func metric(t *testing.T, in *instance, name string) float64 {
	t.Helper()
	v, _ := obstest.Metric(t, in.reg, name, nil)
	return v
}

func describe(m *vpnbotv1.SendMessage) string {
	return fmt.Sprintf("%s → %d", m.GetDedupId(), m.GetChatId())
}
