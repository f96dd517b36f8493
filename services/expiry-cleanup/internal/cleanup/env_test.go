package cleanup_test

import (
	"cmp"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/outbox/outboxtest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/cleanup"
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
	// panel is the sandbox's adapter, counting disables; a test may wrap it.
	panel    vpn.Panel
	disables *disableCount
}

// disableCount is a panel that counts the SetAccount calls that disable.
type disableCount struct {
	vpn.Panel
	n atomic.Int64
}

func (d *disableCount) SetAccount(ctx context.Context, ref vpn.Ref, want vpn.State) (vpn.Account, error) {
	if !want.Enabled {
		d.n.Add(1)
	}
	return d.Panel.SetAccount(ctx, ref, want)
}

// newEnv takes a testing.TB so that the benchmarks share it; kind is the
// panel's (vpn.KindOutline, ...).
func newEnv(tb testing.TB, kind string) *env {
	tb.Helper()
	e := &env{db: pgdbtest.New(tb)}
	srv := bustest.NewServer(tb)
	_, e.js = bustest.Connect(tb, srv.URL())
	require.NoError(tb, bus.DeclareStreams(tb.Context(), e.js, outbox.StreamConfig()))
	e.shop = shop.New(e.db.Pool, shop.Config{})
	e.sb = vpntest.StartSandbox(tb, kind)
	e.disables = &disableCount{Panel: e.sb.Panel}
	e.panel = e.disables
	return e
}

// fleet is the fleet of the env's panel, allowing calls requests at once
// (the default concurrency for 0), as vpn.PanelEnv makes it.
func (e *env) fleet(tb testing.TB, calls int) *vpn.Fleet {
	tb.Helper()
	f, err := vpn.NewFleet([]vpn.Panel{vpn.Limit(e.panel, cmp.Or(calls, cleanup.DefaultConcurrency))},
		[]vpn.MemberConfig{{Name: e.sb.Kind}}, vpn.FleetOptions{Failover: true})
	require.NoError(tb, err)
	return f
}

// instance is one expiry-cleanup replica with what on-call sees of it.
type instance struct {
	c    *cleanup.Cleaner
	logs *obstest.LogBuffer
	reg  *prometheus.Registry
}

func (e *env) instance(t *testing.T, cfg cleanup.Config) *instance {
	t.Helper()
	in := &instance{logs: &obstest.LogBuffer{}, reg: prometheus.NewRegistry()}
	c, err := cleanup.New(cfg, e.shop, e.db.Pool, e.js, e.fleet(t, cfg.Concurrency), obstest.NewLogger(in.logs), in.reg)
	require.NoError(t, err)
	in.c = c
	return in
}

var userSeq atomic.Int64

// newUserID is a user id unique within the test binary.
func newUserID() int64 { return 2_000_000 + userSeq.Add(1) }

// activeKey registers a user (as /start does) whose trial is activated on the
// panel: a period with a live key.
func (e *env) activeKey(t *testing.T, lang string) shop.Subscription {
	t.Helper()
	userID := newUserID()
	_, err := e.db.Pool.Exec(t.Context(), `INSERT INTO users (id, chat_id, language) VALUES ($1, $1, $2)`, userID, lang)
	require.NoError(t, err)
	sub, err := e.shop.StartTrial(t.Context(), userID)
	require.NoError(t, err)
	_, err = e.shop.Activate(t.Context(), sub.ID, e.fleet(t, 0))
	require.NoError(t, err)
	return e.sub(t, sub.ID)
}

// trialWithoutKey registers a user whose trial was never activated.
func (e *env) trialWithoutKey(t *testing.T) shop.Subscription {
	t.Helper()
	userID := newUserID()
	_, err := e.db.Pool.Exec(t.Context(), `INSERT INTO users (id, chat_id, language) VALUES ($1, $1, 'en')`, userID)
	require.NoError(t, err)
	sub, err := e.shop.StartTrial(t.Context(), userID)
	require.NoError(t, err)
	return sub
}

// expire moves a period's end to ago before now.
func (e *env) expire(t *testing.T, id int64, ago time.Duration) shop.Subscription {
	t.Helper()
	_, err := e.db.Pool.Exec(t.Context(), `UPDATE subscriptions
		SET starts_at = date_trunc('second', now()) - interval '100 hours',
		    expires_at = date_trunc('second', now()) - make_interval(secs => $2)
		WHERE id = $1`, id, ago.Seconds())
	require.NoError(t, err)
	return e.sub(t, id)
}

// pay buys a month for the period's user, as a Stars payment does.
func (e *env) pay(t *testing.T, userID int64) shop.Subscription {
	t.Helper()
	inv, err := e.shop.CreateOrder(t.Context(), userID, "m1", shop.ProviderStars)
	require.NoError(t, err)
	sub, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-"+time.Now().Format(time.RFC3339Nano))
	require.NoError(t, err)
	require.True(t, applied)
	return sub
}

func (e *env) sub(t *testing.T, id int64) shop.Subscription {
	t.Helper()
	sub, err := e.shop.Subscription(t.Context(), id)
	require.NoError(t, err)
	return sub
}

// onPanel reports whether the period's account works on the panel.
func (e *env) onPanel(t *testing.T, sub shop.Subscription) bool {
	t.Helper()
	require.NotNil(t, sub.Access)
	a, found := e.sb.Account(t, sub.Access.Name)
	return found && a.Enabled && e.sb.LinkWorks(sub.Access.URL)
}

// revokeCalls counts the disables that reached the panel.
func (e *env) revokeCalls() int { return int(e.disables.n.Load()) }

// failRevoke makes the panel's calls answer 503, or hang until cleared.
func (e *env) failRevoke(hang bool) { e.sb.Fail(hang) }

func (e *env) clearFaults() { e.sb.Clear() }

// messages returns the commands in the OUTBOX, oldest first.
func (e *env) messages(t *testing.T) []*vpnbotv1.SendMessage {
	t.Helper()
	return outboxtest.Commands(t, e.js)
}

// iterate runs one iteration and returns its items and error.
func iterate(t *testing.T, in *instance) (map[string]int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	return in.c.Iterate(ctx)
}

// iterateOK runs one iteration that must succeed.
func iterateOK(t *testing.T, in *instance) map[string]int {
	t.Helper()
	res, err := iterate(t, in)
	require.NoError(t, err)
	return res
}

func metric(t *testing.T, in *instance, name string) float64 {
	t.Helper()
	v, _ := obstest.Metric(t, in.reg, name, nil)
	return v
}
