package pgdb_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
)

const (
	job       = "cryptopay-poller"
	takeover  = 5 * time.Second
	fastRetry = 100 * time.Millisecond
)

// newElection sets up one test's election: a fresh database, an advisory
// lock key no other test contends for, and a context whose cancellation stops
// the contenders started with it (at the latest when the test ends).
func newElection(t *testing.T) (*pgdbtest.DB, int64, context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return pgdbtest.New(t), rand.Int64(), ctx, cancel
}

// contender is one replica taking part in an election, with its own logs and
// metrics, as a separate process would have.
type contender struct {
	appName string
	elector *pgdb.Elector
	logs    *obstest.LogBuffer
	reg     *prometheus.Registry
	done    chan error // Run's result
}

// startContender runs an elector for key whose dedicated connection is named
// appName in pg_stat_activity.
func startContender(ctx context.Context, t *testing.T, db *pgdbtest.DB, key int64, appName string,
	retry time.Duration, lead func(context.Context) error,
) *contender {
	t.Helper()
	return startContenderWith(ctx, t, db.Pool.Config().ConnConfig.Copy(), key, appName, retry, lead)
}

// proxyConnConfig is the configuration of a connection to db through proxy.
func proxyConnConfig(t *testing.T, proxy *pgdbtest.Proxy, db *pgdbtest.DB) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(proxy.DSN(db.DSN))
	require.NoError(t, err)
	return cfg
}

func startContenderWith(ctx context.Context, t *testing.T, connCfg *pgx.ConnConfig, key int64, appName string,
	retry time.Duration, lead func(context.Context) error,
) *contender {
	t.Helper()
	logs := &obstest.LogBuffer{}
	log := obstest.NewLogger(logs)
	connCfg.RuntimeParams["application_name"] = appName
	c := &contender{appName: appName, logs: logs, reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	c.elector = pgdb.NewElector(connCfg, key, job, log, c.reg)
	c.elector.RetryInterval = retry
	go func() { c.done <- c.elector.Run(ctx, lead) }()
	return c
}

func (c *contender) waitStopped(t *testing.T) {
	t.Helper()
	select {
	case err := <-c.done:
		require.NoError(t, err)
	case <-time.After(takeover):
		t.Fatalf("%s: Run did not return after its context was cancelled", c.appName)
	}
}

// lockHolder returns the application_name of the session holding the advisory
// lock key, or "" — the query an operator runs to see who leads.
func lockHolder(t *testing.T, db *pgdbtest.DB, key int64) (appName string, pid int32) {
	t.Helper()
	// The elector mixes the schema into its key; this pool's sessions are in
	// the same schema.
	rows, err := db.Pool.Query(t.Context(), `
		WITH k AS (SELECT $1::bigint # hashtextextended(current_schema(), 0) AS key)
		SELECT a.application_name, l.pid
		FROM k, pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted
		  AND l.classid = ((k.key >> 32) & 4294967295)::oid AND l.objid = (k.key & 4294967295)::oid AND l.objsubid = 1`, key)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		require.Empty(t, appName, "two sessions hold the lock")
		require.NoError(t, rows.Scan(&appName, &pid))
	}
	require.NoError(t, rows.Err())
	return appName, pid
}

func sessionsNamed(t *testing.T, db *pgdbtest.DB, names ...string) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = ANY($1)", names).Scan(&n))
	return n
}

// requireNothingLeft checks what the original system's advisory-lock leak
// broke: once the contenders stop, no session, lock or pool connection remains.
func requireNothingLeft(t *testing.T, db *pgdbtest.DB, key int64, names ...string) {
	t.Helper()
	require.Eventually(t, func() bool { return sessionsNamed(t, db, names...) == 0 }, takeover, 20*time.Millisecond,
		"a contender's connection outlived it")
	holder, _ := lockHolder(t, db, key)
	require.Empty(t, holder, "the advisory lock outlived its contenders")
	require.Zero(t, db.Pool.Stat().AcquiredConns(), "a pool connection was not given back")
}

// leadUntilDone records each term it leads on started and ended.
func leadUntilDone(name string, started, ended chan<- string) func(context.Context) error {
	return func(ctx context.Context) error {
		started <- name
		<-ctx.Done()
		ended <- name
		return nil
	}
}

func receive(t *testing.T, ch <-chan string, what string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(takeover):
		t.Fatalf("timed out waiting for %s", what)
		return ""
	}
}

func TestElectorOneLeaderAndFailoverWhenItsConnectionDies(t *testing.T) {
	t.Parallel()
	db, key, ctx, cancel := newElection(t)
	started, ended := make(chan string, 4), make(chan string, 4)
	names := []string{"elector-a-" + db.Schema, "elector-b-" + db.Schema}
	contenders := map[string]*contender{}
	for _, n := range names {
		contenders[n] = startContender(ctx, t, db, key, n, fastRetry, leadUntilDone(n, started, ended))
	}

	first := contenders[receive(t, started, "a leader")]
	second := contenders[names[0]]
	if first == second {
		second = contenders[names[1]]
	}
	select {
	case n := <-started:
		t.Fatalf("%s leads too", n)
	case <-time.After(5 * fastRetry):
	}
	require.True(t, first.elector.IsLeader())
	require.False(t, second.elector.IsLeader())
	require.EqualValues(t, 1, metric(t, first.reg, "vpnbot_leader", map[string]string{"name": job}))
	require.EqualValues(t, 0, metric(t, second.reg, "vpnbot_leader", map[string]string{"name": job}))
	require.Len(t, first.logs.Events(t, obs.EventLeaderAcquired), 1)
	holder, pid := lockHolder(t, db, key)
	require.Equal(t, first.appName, holder)

	// The leader's backend dies: the database releases the lock, the standby
	// takes it, and the old leader's job is told to stop.
	var terminated bool
	require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT pg_terminate_backend($1)", pid).Scan(&terminated))
	require.True(t, terminated)
	require.Equal(t, first.appName, receive(t, ended, "the old leader's job to stop"))
	require.Equal(t, second.appName, receive(t, started, "the standby to take over"))
	require.Eventually(t, func() bool { return len(first.logs.Events(t, obs.EventLeaderLost)) > 0 },
		takeover, 20*time.Millisecond)
	require.False(t, first.elector.IsLeader())
	require.True(t, second.elector.IsLeader())
	require.EqualValues(t, 0, metric(t, first.reg, "vpnbot_leader", map[string]string{"name": job}))
	require.EqualValues(t, 1, metric(t, second.reg, "vpnbot_leader", map[string]string{"name": job}))
	require.EqualValues(t, 1, metric(t, second.reg, "vpnbot_leader_changes_total", map[string]string{"name": job}))
	lost := first.logs.Events(t, obs.EventLeaderLost)
	require.Len(t, lost, 1)
	require.Equal(t, "warn", lost[0]["level"])
	require.Contains(t, lost[0]["cause"], "leader connection lost")
	holder, _ = lockHolder(t, db, key)
	require.Equal(t, second.appName, holder)

	cancel()
	first.waitStopped(t)
	second.waitStopped(t)
	require.Equal(t, second.appName, receive(t, ended, "the new leader's job to stop"))
	require.False(t, second.elector.IsLeader())
	requireNothingLeft(t, db, key, names...)
}

func TestElectorReleasesTheLockWhenLeadPanics(t *testing.T) {
	t.Parallel()
	db, key, ctx, cancel := newElection(t)
	started, ended := make(chan string, 2), make(chan string, 2)
	crash := make(chan struct{})
	// The panicking replica waits long before contending again, so the lock
	// can only be free for the standby if the panic released it.
	a := startContender(ctx, t, db, key, "elector-panic-"+db.Schema, time.Minute, func(context.Context) error {
		started <- "a"
		<-crash
		panic("bug in the job")
	})
	require.Equal(t, "a", receive(t, started, "the first replica to lead"))
	b := startContender(ctx, t, db, key, "elector-standby-"+db.Schema, fastRetry, leadUntilDone("b", started, ended))

	close(crash)
	require.Equal(t, "b", receive(t, started, "the standby to take over"))
	// The standby may lead before the panicked replica has logged its loss.
	require.Eventually(t, func() bool { return len(a.logs.Events(t, obs.EventLeaderLost)) > 0 },
		takeover, 20*time.Millisecond)
	lost := a.logs.Events(t, obs.EventLeaderLost)
	require.Len(t, lost, 1)
	require.Equal(t, "error", lost[0]["level"])
	require.Contains(t, lost[0]["error"], "bug in the job")
	require.Eventually(t, func() bool { return sessionsNamed(t, db, a.appName) == 0 }, takeover, 20*time.Millisecond,
		"the panicking leader's connection is still open")
	select {
	case err := <-a.done:
		t.Fatalf("Run returned after the panic: %v", err)
	default:
	}

	cancel()
	a.waitStopped(t)
	b.waitStopped(t)
	requireNothingLeft(t, db, key, a.appName, b.appName)
}

func TestElectorLeadsAgainAfterLeadFails(t *testing.T) {
	t.Parallel()
	db, key, ctx, cancel := newElection(t)
	started, ended := make(chan string, 2), make(chan string, 2)
	terms := 0
	c := startContender(ctx, t, db, key, "elector-retry-"+db.Schema, fastRetry, func(ctx context.Context) error {
		terms++
		if terms == 1 {
			return errors.New("crypto pay unreachable")
		}
		return leadUntilDone("c", started, ended)(ctx)
	})

	require.Equal(t, "c", receive(t, started, "the second term"))
	require.True(t, c.elector.IsLeader())
	require.EqualValues(t, 2, metric(t, c.reg, "vpnbot_leader_changes_total", map[string]string{"name": job}))
	lost := c.logs.Events(t, obs.EventLeaderLost)
	require.Len(t, lost, 1)
	require.Contains(t, lost[0]["error"], "crypto pay unreachable")

	cancel()
	c.waitStopped(t)
	lost = c.logs.Events(t, obs.EventLeaderLost)
	require.Len(t, lost, 2)
	require.Equal(t, "info", lost[1]["level"], "a shutdown is not a warning")
	requireNothingLeft(t, db, key, c.appName)
}

func TestElectorLeadsAgainAfterADatabaseOutage(t *testing.T) {
	t.Parallel()
	db, key, ctx, cancel := newElection(t)
	proxy := pgdbtest.NewProxy(t, db.Addr())
	started, ended := make(chan string, 2), make(chan string, 2)
	c := startContenderWith(ctx, t, proxyConnConfig(t, proxy, db), key, "elector-outage-"+db.Schema, fastRetry,
		leadUntilDone("c", started, ended))
	receive(t, started, "the first term")

	proxy.Cut()
	receive(t, ended, "the job to stop when the database went away")
	require.False(t, c.elector.IsLeader())
	const cannotConnect = `"message":"leader election: cannot connect, retrying"`
	require.Eventually(t, func() bool { return len(c.logs.Lines(cannotConnect)) > 0 },
		takeover, 20*time.Millisecond)
	require.Never(t, func() bool { return len(c.logs.Lines(cannotConnect)) > 1 },
		5*fastRetry, fastRetry/2, "an outage must be logged once, not at every retry")

	proxy.Restore()
	receive(t, started, "leadership again once the database is back")
	require.EqualValues(t, 2, metric(t, c.reg, "vpnbot_leader_changes_total", map[string]string{"name": job}))

	cancel()
	c.waitStopped(t)
	requireNothingLeft(t, db, key, c.appName)
}
