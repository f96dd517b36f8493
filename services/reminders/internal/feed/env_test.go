package feed_test

import (
	"context"
	"fmt"
	"strings"
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
	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/reminders/internal/feed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// chat is the seller's group the tests' feeds post to.
const chat int64 = -100777

const waitFor = 10 * time.Second

// env is one test's database, NATS with the OUTBOX stream, shop, and the
// clock the feed replicas read.
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
	// The shop runs on real time; the feed's clock stands at the test's
	// start, so every event of the test is after it.
	e.shop = shop.New(e.db.Pool, shop.Config{})
	return e
}

// replica is one reminders replica's feed, with what on-call sees of it.
type replica struct {
	f    *feed.Feed
	logs *obstest.LogBuffer
	reg  *prometheus.Registry
}

// replica is a feed in lang, with the summary at the default hour.
func (e *env) replica(t *testing.T, lang string) *replica {
	t.Helper()
	return e.newReplica(t, feed.Config{Lang: lang, SummaryHour: feed.DefaultSummaryHour})
}

// replicaWith is a feed in English with the summary at hour.
func (e *env) replicaWith(t *testing.T, hour int) *replica {
	t.Helper()
	return e.newReplica(t, feed.Config{Lang: "en", SummaryHour: hour})
}

func (e *env) newReplica(t *testing.T, cfg feed.Config) *replica {
	t.Helper()
	r := &replica{logs: &obstest.LogBuffer{}, reg: prometheus.NewRegistry()}
	cfg.ChatID, cfg.NowFunc = chat, e.clock.Now
	f, err := feed.New(cfg, e.db.Pool, e.js, obstest.NewLogger(r.logs), r.reg)
	require.NoError(t, err)
	r.f = f
	return r
}

// post runs one pass, which must succeed, and returns its items.
func (r *replica) post(t *testing.T) worker.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	res := worker.Result{}
	require.NoError(t, r.f.Post(ctx, res))
	return res
}

// posted is the replica's vpnbot_reminders_feed_events_total.
func (r *replica) posted(t *testing.T) float64 {
	t.Helper()
	v, ok := obstest.Metric(t, r.reg, "vpnbot_reminders_feed_events_total", nil)
	require.True(t, ok, "no vpnbot_reminders_feed_events_total")
	return v
}

// postedEvents are the dedup ids of the event messages the replica logged
// FEED_POSTED, in order.
func (r *replica) postedEvents(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, ev := range r.logs.Events(t, feed.EventPosted) {
		if id, _ := ev["dedup_id"].(string); !strings.HasPrefix(id, "feed:summary:") {
			ids = append(ids, id)
		}
	}
	return ids
}

var userSeq atomic.Int64

// user registers a user (as /start does) with a username.
func (e *env) user(t *testing.T) (id int64, username string) {
	t.Helper()
	id = 3_000_000 + userSeq.Add(1)
	username = fmt.Sprintf("u%d", id)
	_, err := e.db.Pool.Exec(t.Context(), `INSERT INTO users (id, chat_id, username) VALUES ($1, $1, $2)`, id, username)
	require.NoError(t, err)
	return id, username
}

// pay buys plan m1 for the user with Telegram Stars, and returns the order.
func (e *env) pay(t *testing.T, userID int64) shop.Invoice {
	t.Helper()
	inv, err := e.shop.CreateOrder(t.Context(), userID, "m1", shop.ProviderStars)
	require.NoError(t, err)
	_, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, fmt.Sprintf("charge-%d", inv.ID))
	require.NoError(t, err)
	require.True(t, applied)
	return inv
}

// topUp adds stars to the user's balance as a paid Stars top-up does.
func (e *env) topUp(t *testing.T, userID, stars int64) {
	t.Helper()
	req := fmt.Sprintf("topup-%d-%d", userID, time.Now().UnixNano())
	inv, err := e.shop.CreateStarsTopUpOnce(t.Context(), req, userID, stars)
	require.NoError(t, err)
	_, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-"+req)
	require.NoError(t, err)
	require.True(t, applied)
}

var auditSeq atomic.Int64

// act records an admin's action on target, as the admin tools do.
func (e *env) act(t *testing.T, admin int64, action string, target int64) {
	t.Helper()
	_, err := e.db.Pool.Exec(t.Context(), `
		INSERT INTO admin_audit (op_key, admin_id, action, target_id, created_at) VALUES ($1, $2, $3, $4, $5)`,
		fmt.Sprintf("act:%d", auditSeq.Add(1)), admin, action, target, time.Now())
	require.NoError(t, err)
}

// feedMessages are the feed's commands in the OUTBOX, in the order
// published.
func (e *env) feedMessages(t *testing.T) []*vpnbotv1.SendMessage {
	t.Helper()
	var out []*vpnbotv1.SendMessage
	for _, m := range outboxtest.Commands(t, e.js) {
		if strings.HasPrefix(m.GetDedupId(), "feed:") {
			out = append(out, m)
		}
	}
	return out
}

// eventMessages are the feed's messages of events in the OUTBOX, in the
// order published: the daily summaries (due in these tests after
// DefaultSummaryHour UTC) are left out.
func (e *env) eventMessages(t *testing.T) []*vpnbotv1.SendMessage {
	t.Helper()
	var out []*vpnbotv1.SendMessage
	for _, m := range e.feedMessages(t) {
		if !strings.HasPrefix(m.GetDedupId(), "feed:summary:") {
			out = append(out, m)
		}
	}
	return out
}

// lines are the lines of msgs, in the order the chat reads them.
func lines(msgs []*vpnbotv1.SendMessage) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, strings.Split(m.GetText(), "\n")...)
	}
	return out
}

// dedupIDs are the messages' dedup ids.
func dedupIDs(msgs []*vpnbotv1.SendMessage) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.GetDedupId()
	}
	return ids
}

// claimedInOrder are the dedup ids of the feed's messages in the order
// they were claimed.
func (e *env) claimedInOrder(t *testing.T) []string {
	t.Helper()
	rows, err := e.db.Pool.Query(t.Context(), `SELECT dedup_id FROM feed_messages ORDER BY id`)
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}
