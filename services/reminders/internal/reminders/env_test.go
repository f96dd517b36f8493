package reminders_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/clocktest"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/outbox/outboxtest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/reminders/internal/reminders"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	waitFor = 10 * time.Second
	poll    = 10 * time.Millisecond
)

// env is one test's database, NATS with the OUTBOX stream, shop, and the
// clock the reminder instances read.
type env struct {
	db    *pgdbtest.DB
	js    jetstream.JetStream
	shop  *shop.Shop
	clock *clocktest.Clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{db: pgdbtest.New(t), clock: clocktest.New(time.Now())}
	srv := bustest.NewServer(t)
	_, e.js = bustest.Connect(t, srv.URL())
	require.NoError(t, bus.DeclareStreams(t.Context(), e.js, outbox.StreamConfig()))
	// The shop runs on real time: subscriptions are bought and renewed now,
	// and the reminders' clock is moved towards their expiry.
	e.shop = shop.New(e.db.Pool, shop.Config{})
	return e
}

// instance is one reminders replica with what on-call sees of it.
type instance struct {
	r    *reminders.Reminder
	logs *obstest.LogBuffer
	reg  *prometheus.Registry
}

func (e *env) instance(t *testing.T, cfg reminders.Config) *instance {
	t.Helper()
	in := &instance{logs: &obstest.LogBuffer{}, reg: prometheus.NewRegistry()}
	cfg.NowFunc = e.clock.Now
	r, err := reminders.New(cfg, e.db.Pool, e.js, obstest.NewLogger(in.logs), in.reg)
	require.NoError(t, err)
	in.r = r
	return in
}

var userSeq atomic.Int64

// user registers a user (as /start does) speaking lang.
func (e *env) user(t *testing.T, lang string) int64 {
	t.Helper()
	id := 2_000_000 + userSeq.Add(1)
	_, err := e.db.Pool.Exec(t.Context(), `INSERT INTO users (id, chat_id, language) VALUES ($1, $1, $2)`, id, lang)
	require.NoError(t, err)
	return id
}

// pay buys a month for the user, as a Telegram Stars payment does: a new
// paid subscription, or the extension of the running one.
func (e *env) pay(t *testing.T, userID int64) shop.Subscription {
	t.Helper()
	inv, err := e.shop.CreateOrder(t.Context(), userID, "m1", shop.ProviderStars)
	require.NoError(t, err)
	sub, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-"+strconv.FormatInt(inv.ID, 10))
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, shop.KindPaid, sub.Kind)
	return sub
}

// paid is a user speaking lang with a paid subscription.
func (e *env) paid(t *testing.T, lang string) shop.Subscription {
	t.Helper()
	return e.pay(t, e.user(t, lang))
}

// setExpiry moves a subscription's expiry, as time passing would.
func (e *env) setExpiry(t *testing.T, id int64, at time.Time) {
	t.Helper()
	_, err := e.db.Pool.Exec(t.Context(), `UPDATE subscriptions SET expires_at = $2 WHERE id = $1`, id, at)
	require.NoError(t, err)
}

// messages returns the commands in the OUTBOX, in the order published.
func (e *env) messages(t *testing.T) []*vpnbotv1.SendMessage {
	t.Helper()
	return outboxtest.Commands(t, e.js)
}

// dedupIDs lists the messages' dedup ids, which name the reminder:
// "<kind>:<subscription>:<expiry>".
func dedupIDs(msgs []*vpnbotv1.SendMessage) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.GetDedupId()
	}
	return ids
}

// dedupID is the dedup id of sub's reminder of kind.
func dedupID(kind string, sub shop.Subscription) string {
	return kind + ":" + strconv.FormatInt(sub.ID, 10) + ":" + strconv.FormatInt(sub.ExpiresAt.Unix(), 10)
}

func iterate(t *testing.T, in *instance) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	res, err := in.r.Iterate(ctx)
	require.NoError(t, err)
	return res
}

func metric(t *testing.T, in *instance, stage string) float64 {
	t.Helper()
	v, ok := obstest.Metric(t, in.reg, "vpnbot_reminders_sent_total", map[string]string{"stage": stage})
	require.True(t, ok, "no vpnbot_reminders_sent_total{stage=%q}", stage)
	return v
}
