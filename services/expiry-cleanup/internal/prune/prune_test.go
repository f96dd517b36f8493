package prune_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/prune"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const day = 24 * time.Hour

// clock is a test's time, moved by hand; tick, when set, is added on every
// reading, so that a pass's budget runs out after a known number of batches.
type clock struct {
	mu   sync.Mutex
	now  time.Time
	tick time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.tick)
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one test's database and the time its rows are dated by.
type env struct {
	db    *pgdbtest.DB
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{db: pgdbtest.New(t), clock: &clock{now: time.Now().UTC().Truncate(time.Second)}}
}

// instance is one replica's Pruner with what on-call sees of it.
type instance struct {
	p    *prune.Pruner
	logs *obstest.LogBuffer
	reg  *prometheus.Registry
}

func (e *env) instance(t *testing.T, cfg prune.Config) *instance {
	t.Helper()
	in := &instance{logs: &obstest.LogBuffer{}, reg: prometheus.NewRegistry()}
	if cfg.NowFunc == nil {
		cfg.NowFunc = e.clock.Now
	}
	p, err := prune.New(cfg, e.db.Pool, obstest.NewLogger(in.logs), in.reg)
	require.NoError(t, err)
	in.p = p
	return in
}

func (in *instance) prune(t *testing.T) worker.Result {
	t.Helper()
	res := worker.Result{}
	require.NoError(t, in.p.Prune(t.Context(), res))
	return res
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := e.db.Pool.Exec(t.Context(), sql, args...)
	require.NoError(t, err)
}

// sentAndHandled adds n sent-log and n inbox rows dated ago before now,
// their ids starting at first.
func (e *env) sentAndHandled(t *testing.T, first, n int, ago time.Duration) {
	t.Helper()
	at := e.clock.Now().Add(-ago)
	e.exec(t, `INSERT INTO sent_messages (dedup_id, chat_id, sent_at)
		SELECT 'm:' || g, g, $3 FROM generate_series($1::int, $1::int + $2::int - 1) g`, first, n, at)
	e.exec(t, `INSERT INTO processed_updates (bot_id, update_id, handled_at)
		SELECT 7, g, $3 FROM generate_series($1::int, $1::int + $2::int - 1) g`, first, n, at)
}

// period adds a user and one period of theirs, revoked ago before now
// (still active when ago is 0), with the given notifications_sent kinds
// recorded for its expiry, and returns the period's id.
func (e *env) period(t *testing.T, userID int64, expires time.Time, revokedAgo time.Duration, kinds ...string) int64 {
	t.Helper()
	e.exec(t, `INSERT INTO users (id, chat_id) VALUES ($1, $1)`, userID)
	var revokedAt *time.Time
	status := "active"
	if revokedAgo > 0 {
		at := e.clock.Now().Add(-revokedAgo)
		revokedAt, status = &at, "revoked"
	}
	var id int64
	require.NoError(t, e.db.Pool.QueryRow(t.Context(), `
		INSERT INTO subscriptions (user_id, kind, status, starts_at, expires_at, revoked_at)
		VALUES ($1, 'paid', $2, $3::timestamptz - interval '30 days', $3, $4) RETURNING id`,
		userID, status, expires, revokedAt).Scan(&id))
	for _, k := range kinds {
		e.exec(t, `INSERT INTO notifications_sent (subscription_id, kind, expires_at, sent_at) VALUES ($1, $2, $3, $3)`,
			id, k, expires)
	}
	return id
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.Pool.QueryRow(t.Context(), sql, args...).Scan(&n))
	return n
}

func (e *env) counts(t *testing.T) map[string]int {
	t.Helper()
	return map[string]int{
		prune.TableSentMessages:      e.count(t, `SELECT count(*) FROM sent_messages`),
		prune.TableProcessedUpdates:  e.count(t, `SELECT count(*) FROM processed_updates`),
		prune.TableNotificationsSent: e.count(t, `SELECT count(*) FROM notifications_sent`),
	}
}

func TestOldRowsGoAndRecentOnesStay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	e.sentAndHandled(t, 1, 5, 31*day) // past the 30-day retention
	e.sentAndHandled(t, 6, 3, 29*day) // within it
	e.sentAndHandled(t, 9, 2, 5*day)  // recent
	e.sentAndHandled(t, 11, 1, time.Minute)

	// Periods revoked 40 days ago: their rows go.
	long := e.period(t, 1, now.Add(-41*day), 40*day, "reminder_72h", "reminder_24h", "expired", "revoke_claim")
	e.period(t, 2, now.Add(-90*day), 89*day, "key")
	// Revoked within the retention: a worker may still look at them.
	recent := e.period(t, 3, now.Add(-8*day), 8*day, "trial_ended", "expired")
	// Running for years: its key row is as old as its access, and must stay
	// or activation would send the key again; its period is not over.
	running := e.period(t, 4, now.Add(20*day), 0, "reminder_72h")
	e.exec(t, `INSERT INTO notifications_sent (subscription_id, kind, expires_at, sent_at) VALUES ($1, 'key', $2, $2)`,
		running, now.Add(-400*day))
	// Expired long ago but never revoked (the panel was down): not over yet.
	stuck := e.period(t, 5, now.Add(-60*day), 0, "reminder_1h", "revoke_claim")

	in := e.instance(t, prune.Config{})
	res := in.prune(t)
	require.Equal(t, worker.Result{"pruned_sent_messages": 5, "pruned_processed_updates": 5, "pruned_notifications_sent": 5}, res)
	require.Equal(t, map[string]int{"sent_messages": 6, "processed_updates": 6, "notifications_sent": 6}, e.counts(t))
	require.Zero(t, e.count(t, `SELECT count(*) FROM sent_messages WHERE sent_at < $1`, now.Add(-30*day)))
	require.Zero(t, e.count(t, `SELECT count(*) FROM notifications_sent WHERE subscription_id = $1`, long))
	for id, want := range map[int64]int{recent: 2, running: 2, stuck: 2} {
		require.Equal(t, want, e.count(t, `SELECT count(*) FROM notifications_sent WHERE subscription_id = $1`, id),
			"the rows of period %d", id)
	}

	for table, want := range map[string]float64{"sent_messages": 5, "processed_updates": 5, "notifications_sent": 5} {
		v, ok := obstest.Metric(t, in.reg, "vpnbot_pruned_rows_total", map[string]string{"table": table})
		require.True(t, ok)
		require.Equal(t, want, v, table)
	}
	logged := in.logs.Events(t, prune.EventPruned)
	require.Len(t, logged, 3)
	for _, l := range logged {
		require.EqualValues(t, 5, l["rows"], l)
		require.Equal(t, true, l["complete"], l)
		require.EqualValues(t, 1, l["batches"], l)
	}
}

func TestAPassRunsOnceEveryIntervalPerReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, prune.Config{Every: time.Hour})
	e.sentAndHandled(t, 1, 2, 31*day)
	require.Equal(t, worker.Result{"pruned_sent_messages": 2, "pruned_processed_updates": 2}, in.prune(t))

	e.sentAndHandled(t, 3, 2, 31*day)
	e.clock.Advance(59 * time.Minute)
	require.Empty(t, in.prune(t), "not due within the hour")
	require.Equal(t, 2, e.count(t, `SELECT count(*) FROM sent_messages`))
	e.clock.Advance(time.Minute)
	require.Equal(t, worker.Result{"pruned_sent_messages": 2, "pruned_processed_updates": 2}, in.prune(t))
}

func TestABacklogGoesInBoundedBatchesOverSeveralIterations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	e.sentAndHandled(t, 1, 25, 31*day)
	for u := range int64(5) {
		e.period(t, 100+u, now.Add(-50*day), 40*day-time.Duration(u)*time.Hour, "a", "b", "c", "d", "e")
	}
	e.sentAndHandled(t, 1000, 3, day)
	e.period(t, 200, now.Add(-3*day), 2*day, "expired")

	// Each reading of the clock moves it by a second: with a budget of half
	// a second a pass deletes one batch per table, then stops starting more.
	e.clock.tick = time.Second
	in := e.instance(t, prune.Config{BatchSize: 10, Budget: 500 * time.Millisecond, Every: 24 * time.Hour})
	for pass, want := range []int{10, 10, 5} {
		res := in.prune(t)
		for _, table := range []string{"sent_messages", "processed_updates", "notifications_sent"} {
			require.Equal(t, want, res["pruned_"+table], "pass %d, %s", pass, table)
		}
	}
	require.Equal(t, map[string]int{"sent_messages": 3, "processed_updates": 3, "notifications_sent": 1}, e.counts(t))
	complete := 0
	for _, l := range in.logs.Events(t, prune.EventPruned) {
		require.LessOrEqual(t, l["rows"], float64(10), "one batch per pass: %v", l)
		if l["complete"] == true {
			complete++
		}
	}
	require.Equal(t, 3, complete, "only the last pass got to the end of each table")
	require.Empty(t, in.prune(t), "a complete pass makes the next one wait for Every")
}

func TestLaterPassesPruneWhatAgedSince(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	in := e.instance(t, prune.Config{Every: time.Hour})
	old := e.period(t, 1, now.Add(-41*day), 40*day, "expired")
	soon := e.period(t, 2, now.Add(-30*day), 29*day, "expired", "trial_ended")
	require.Equal(t, worker.Result{"pruned_notifications_sent": 1}, in.prune(t))

	// A day later the second period is past the retention too: the pass,
	// which starts where the last one ended, finds it.
	e.clock.Advance(day + time.Minute)
	require.Equal(t, worker.Result{"pruned_notifications_sent": 2}, in.prune(t))
	require.Zero(t, e.count(t, `SELECT count(*) FROM notifications_sent WHERE subscription_id IN ($1, $2)`, old, soon))
}

func TestReplicasPruningAtOnceDeleteEachRowOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	e.sentAndHandled(t, 1, 3000, 40*day)
	e.exec(t, `INSERT INTO users (id, chat_id) SELECT g, g FROM generate_series(1, 500) g`)
	e.exec(t, `INSERT INTO subscriptions (user_id, kind, status, starts_at, expires_at, revoked_at)
		SELECT g, 'paid', 'revoked', $1::timestamptz - interval '90 days', $1::timestamptz - interval '60 days',
		       $1::timestamptz - interval '50 days' + g * interval '1 minute'
		FROM generate_series(1, 500) g`, now)
	e.exec(t, `INSERT INTO notifications_sent (subscription_id, kind, expires_at)
		SELECT s.id, k, s.expires_at FROM subscriptions s, unnest(ARRAY['reminder_72h', 'reminder_24h', 'expired']) k`)

	const replicas = 3
	results := make([]worker.Result, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		in := e.instance(t, prune.Config{BatchSize: 50})
		wg.Go(func() {
			res := worker.Result{}
			if err := in.p.Prune(context.Background(), res); err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	require.Equal(t, map[string]int{"sent_messages": 0, "processed_updates": 0, "notifications_sent": 0}, e.counts(t))
	total := worker.Result{}
	for _, res := range results {
		for k, v := range res {
			total[k] += v
		}
	}
	require.Equal(t, worker.Result{"pruned_sent_messages": 3000, "pruned_processed_updates": 3000, "pruned_notifications_sent": 1500},
		total, "every row counted by the one replica that deleted it")
}

// The pruner locks the rows it deletes (FOR UPDATE SKIP LOCKED), which needs
// UPDATE beside DELETE: under the expiry-cleanup's own role, as in
// production, every table is pruned.
func TestThePrunerRunsUnderItsRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	e.sentAndHandled(t, 1, 3, 31*day)
	e.period(t, 1, now.Add(-41*day), 40*day, "expired", "revoke_claim")

	in := &instance{logs: &obstest.LogBuffer{}, reg: prometheus.NewRegistry()}
	p, err := prune.New(prune.Config{NowFunc: e.clock.Now}, e.db.As(t, "expiry-cleanup"), obstest.NewLogger(in.logs), in.reg)
	require.NoError(t, err)
	in.p = p
	require.Equal(t, worker.Result{"pruned_sent_messages": 3, "pruned_processed_updates": 3, "pruned_notifications_sent": 2}, in.prune(t))
	require.Equal(t, map[string]int{"sent_messages": 0, "processed_updates": 0, "notifications_sent": 0}, e.counts(t))
}
