package pgdb_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
)

func TestOpenLogsPoolSizeAndExportsPoolMetrics(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := pgdbtest.New(t)
	var logs obstest.LogBuffer
	log := obstest.NewLogger(&logs)
	reg := prometheus.NewRegistry()
	// Trust authentication ignores the password, which must not reach the log.
	dsn, err := url.Parse(db.DSN)
	require.NoError(t, err)
	dsn.User = url.UserPassword("postgres", "s3cret-pw")
	service := "pgdb-open-" + db.Schema

	pool, err := pgdb.Open(ctx, config.DB{DatabaseURL: dsn.String(), PoolMaxSize: 7}, service, log, reg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	require.EqualValues(t, 7, pool.Config().MaxConns)
	evs := logs.Events(t, obs.EventDBPoolMaxSize)
	require.Len(t, evs, 1)
	require.EqualValues(t, 7, evs[0]["value"])
	require.Equal(t, "DB_POOL_MAX_SIZE=7", evs[0]["message"])
	require.Contains(t, evs[0]["dsn"], "postgres:xxxxx@")
	require.NotContains(t, logs.String(), "s3cret-pw")

	// The pool reaches the schema of the DSN and names its sessions after the service.
	var sessions int
	require.NoError(t, pool.QueryRow(ctx,
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", service).Scan(&sessions))
	require.Equal(t, 1, sessions)
	var current string
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_schema()").Scan(&current))
	require.Equal(t, db.Schema, current)

	scrape := snapshot(t, reg)
	require.EqualValues(t, 7, metric(t, scrape, "vpnbot_db_pool_max_conns", nil))
	require.EqualValues(t, 0, metric(t, scrape, "vpnbot_db_pool_acquired_conns", nil))
	require.EqualValues(t, 1, metric(t, scrape, "vpnbot_db_pool_idle_conns", nil))
	require.EqualValues(t, 1, metric(t, scrape, "vpnbot_db_pool_total_conns", nil))
	require.EqualValues(t, 2, metric(t, scrape, "vpnbot_db_pool_acquire_total", nil))
	require.EqualValues(t, 1, metric(t, scrape, "vpnbot_db_pool_empty_acquire_total", nil),
		"only the first acquire waited, for the connection to open")
	require.Greater(t, metric(t, scrape, "vpnbot_db_pool_acquire_wait_seconds_total", nil), 0.0)
	// The superuser the tests connect as has no limit; the other tests'
	// sessions count with this one.
	require.GreaterOrEqual(t, metric(t, scrape, "vpnbot_db_role_connections", map[string]string{"role": "postgres"}), 1.0)
	require.EqualValues(t, -1, metric(t, scrape, "vpnbot_db_role_connection_limit", map[string]string{"role": "postgres"}))
}

func TestOpenRejectsBadDSNWithoutLeakingIt(t *testing.T) {
	t.Parallel()
	_, err := pgdb.Open(t.Context(), config.DB{
		DatabaseURL: "postgres://postgres:s3cret-pw@127.0.0.1:notaport/db", PoolMaxSize: 1,
	}, "pgdb-test", zerolog.Nop(), nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret-pw")
}

func TestServiceStartsWhileDatabaseIsDownAndBecomesReady(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	proxy := pgdbtest.NewProxy(t, db.Addr())
	proxy.Cut()

	pool, err := pgdb.Open(t.Context(), config.DB{DatabaseURL: proxy.DSN(db.DSN), PoolMaxSize: 2},
		"pgdb-test", zerolog.Nop(), nil)
	require.NoError(t, err, "a database down at start must not stop the service")
	t.Cleanup(pool.Close)
	ready := pgdb.Ping(pool)

	err = ready(t.Context())
	require.Error(t, err)
	require.True(t, pgdb.IsUnavailable(err), "%v", err)

	proxy.Restore()
	require.Eventually(t, func() bool { return ready(t.Context()) == nil }, 5*time.Second, 20*time.Millisecond)
	_, err = pool.Exec(t.Context(), "INSERT INTO users (id) VALUES (1)")
	require.NoError(t, err)
}

func TestIsUnavailableTellsOutagesFromQueryErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := pgdbtest.New(t)

	t.Run("connection cut while in use, and no new connection", func(t *testing.T) {
		proxy := pgdbtest.NewProxy(t, db.Addr())
		conn, err := pgx.Connect(ctx, proxy.DSN(db.DSN))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		_, err = conn.Exec(ctx, "SELECT 1")
		require.NoError(t, err)

		proxy.Cut()
		_, err = conn.Exec(ctx, "SELECT 1")
		require.Error(t, err)
		require.True(t, pgdb.IsUnavailable(err), "%v", err)
		require.True(t, pgdb.IsUnavailable(fmt.Errorf("saving the user: %w", err)), "wrapped")

		_, err = pgx.Connect(ctx, proxy.DSN(db.DSN))
		require.Error(t, err)
		require.True(t, pgdb.IsUnavailable(err), "%v", err)
	})

	t.Run("backend terminated by an administrator", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, db.DSN)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		var terminated bool
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", conn.PgConn().PID()).Scan(&terminated))
		require.True(t, terminated)

		_, err = conn.Exec(ctx, "SELECT 1")
		require.Error(t, err)
		require.True(t, pgdb.IsUnavailable(err), "%v", err)
	})

	t.Run("query and data errors", func(t *testing.T) {
		_, err := db.Pool.Exec(ctx, "SELEC 1")
		require.Error(t, err)
		require.False(t, pgdb.IsUnavailable(err), "syntax error: %v", err)

		_, err = db.Pool.Exec(ctx, "INSERT INTO users (id) VALUES (7)")
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, "INSERT INTO users (id) VALUES (7)")
		require.Error(t, err)
		require.False(t, pgdb.IsUnavailable(err), "unique violation: %v", err)

		err = db.Pool.QueryRow(ctx, "SELECT id FROM users WHERE id = 8").Scan(new(int64))
		require.ErrorIs(t, err, pgx.ErrNoRows)
		require.False(t, pgdb.IsUnavailable(err))

		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = db.Pool.Exec(short, "SELECT pg_sleep(5)")
		require.Error(t, err)
		require.False(t, pgdb.IsUnavailable(err), "the caller's own deadline: %v", err)

		require.False(t, pgdb.IsUnavailable(nil))
		require.False(t, pgdb.IsUnavailable(errors.New("invoice not found")))
	})
}

func TestConnectionOverTheRolesLimitIsRefusedLoggedAndCounted(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := pgdbtest.New(t)
	role := "pgdb_limit_" + db.Schema
	ident := pgx.Identifier{role}.Sanitize()
	_, err := db.Pool.Exec(ctx, "CREATE ROLE "+ident+" LOGIN CONNECTION LIMIT 1")
	require.NoError(t, err)
	t.Cleanup(func() {
		// The pool has closed (cleanups run last-in first-out), but its
		// backend may still be exiting: DROP ROLE waits for no session.
		require.Eventually(t, func() bool {
			_, err := db.Pool.Exec(context.Background(), "DROP ROLE "+ident)
			return err == nil
		}, 10*time.Second, 50*time.Millisecond)
	})
	dsn, err := url.Parse(db.DSN)
	require.NoError(t, err)
	dsn.User = url.User(role)
	var logs obstest.LogBuffer
	reg := prometheus.NewRegistry()

	// One connection more than the role may open.
	pool, err := pgdb.Open(ctx, config.DB{DatabaseURL: dsn.String(), PoolMaxSize: 2}, "pgdb-limit", obstest.NewLogger(&logs), reg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	held, err := pool.Acquire(ctx)
	require.NoError(t, err)

	// The second acquire fails with the database's refusal, well before
	// its deadline: the pool does not stall waiting for a connection.
	acquireCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = pool.Acquire(acquireCtx)
	require.Error(t, err)
	require.True(t, pgdb.IsConnectionLimit(err), "want SQLSTATE 53300, got %v", err)
	require.NoError(t, acquireCtx.Err(), "the acquire failed on the refusal, not on its deadline")

	evs := logs.Events(t, obs.EventDBConnectionLimit)
	require.Len(t, evs, 1)
	require.Equal(t, role, evs[0]["role"])
	require.Equal(t, "error", evs[0]["level"])
	require.Contains(t, evs[0]["error"], "too many connections for role")

	// Within its limit the pool serves again, and the scrape shows the
	// database's count of the role's sessions beside its limit.
	held.Release()
	scrape := snapshot(t, reg)
	require.EqualValues(t, 1, metric(t, scrape, "vpnbot_db_connection_limit_refusals_total", nil))
	require.EqualValues(t, 1, metric(t, scrape, "vpnbot_db_role_connections", map[string]string{"role": role}))
	require.EqualValues(t, 1, metric(t, scrape, "vpnbot_db_role_connection_limit", map[string]string{"role": role}))
	var one int
	require.NoError(t, pool.QueryRow(ctx, "SELECT 1").Scan(&one))
	require.Equal(t, 1, one)
	require.False(t, pgdb.IsConnectionLimit(pool.QueryRow(ctx, "SELECT 1/0").Scan(&one)))
}
