package notifier_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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
	"github.com/vpnbot/vpnbot/services/trial-notifier/internal/notifier"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	waitFor = 10 * time.Second
	poll    = 10 * time.Millisecond
)

// env is one test's database, NATS, shop and clock.
type env struct {
	db    *pgdbtest.DB
	nats  *bustest.Server
	js    jetstream.JetStream
	shop  *shop.Shop
	clock *clocktest.Clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{db: pgdbtest.New(t), nats: bustest.NewServer(t)}
	_, e.js = bustest.Connect(t, e.nats.URL())
	require.NoError(t, bus.DeclareStreams(t.Context(), e.js, outbox.StreamConfig()))
	// Whole seconds, as the shop stores times.
	e.clock = clocktest.New(time.Now().UTC().Truncate(time.Second))
	e.shop = shop.New(e.db.Pool, shop.Config{NowFunc: e.clock.Now})
	return e
}

// instance is one trial-notifier replica with its logs.
type instance struct {
	n    *notifier.Notifier
	logs *obstest.LogBuffer
}

func (e *env) instance(t *testing.T, cfg notifier.Config) *instance {
	t.Helper()
	in := &instance{logs: &obstest.LogBuffer{}}
	cfg.NowFunc = e.clock.Now
	n, err := notifier.New(cfg, e.db.Pool, e.js, obstest.NewLogger(in.logs))
	require.NoError(t, err)
	in.n = n
	return in
}

var userSeq atomic.Int64

// user registers a new user as /start does, now by the test's clock, and
// returns their id (also their chat id).
func (e *env) user(t *testing.T, lang string) int64 {
	t.Helper()
	id := 2_000_000 + userSeq.Add(1)
	_, err := e.db.Pool.Exec(t.Context(), `INSERT INTO users (id, chat_id, language, created_at) VALUES ($1, $1, $2, $3)`,
		id, lang, e.clock.Now())
	require.NoError(t, err)
	return id
}

// trial registers a user who takes the trial at once.
func (e *env) trial(t *testing.T, lang string) shop.Subscription {
	t.Helper()
	sub, err := e.shop.StartTrial(t.Context(), e.user(t, lang))
	require.NoError(t, err)
	return sub
}

// trialOf registers a user who takes a trial of length at once.
func (e *env) trialOf(t *testing.T, lang string, length time.Duration) shop.Subscription {
	t.Helper()
	sh := shop.New(e.db.Pool, shop.Config{TrialDuration: length, NowFunc: e.clock.Now})
	sub, err := sh.StartTrial(t.Context(), e.user(t, lang))
	require.NoError(t, err)
	return sub
}

// pay buys the one-month plan for the user, as the payment-watcher applies it.
func (e *env) pay(t *testing.T, userID int64) shop.Subscription {
	t.Helper()
	inv, err := e.shop.CreateOrder(t.Context(), userID, "m1", shop.ProviderStars)
	require.NoError(t, err)
	sub, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-"+strconv.FormatInt(inv.ID, 10))
	require.NoError(t, err)
	require.True(t, applied)
	return sub
}

// messages returns the commands in the OUTBOX, oldest first.
func (e *env) messages(t *testing.T) []*vpnbotv1.SendMessage {
	t.Helper()
	return outboxtest.Commands(t, e.js)
}

// dedupIDs are the dedup ids of msgs, in order.
func dedupIDs(msgs []*vpnbotv1.SendMessage) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.GetDedupId()
	}
	return ids
}

func iterate(t *testing.T, in *instance) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	res, err := in.n.Iterate(ctx)
	require.NoError(t, err)
	return res
}
