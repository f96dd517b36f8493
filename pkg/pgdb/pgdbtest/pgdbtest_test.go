package pgdbtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func schemaExists(t *testing.T, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pgdbtest.BaseURL(t))
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(),
		"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name).Scan(&exists))
	return exists
}

func TestSchemasAreIsolatedMigratedAndDropped(t *testing.T) {
	t.Parallel()
	var a, b *pgdbtest.DB
	t.Run("two tests", func(t *testing.T) {
		a, b = pgdbtest.New(t), pgdbtest.New(t)
		require.NotEqual(t, a.Schema, b.Schema)

		_, err := a.Pool.Exec(t.Context(), "INSERT INTO users (id, username) VALUES (42, 'alice')")
		require.NoError(t, err)
		var n int
		require.NoError(t, b.Pool.QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&n))
		require.Zero(t, n, "b sees a's rows")

		// The DSN, as a subprocess would use it, lands in the same schema.
		conn, err := pgx.Connect(t.Context(), a.DSN)
		require.NoError(t, err)
		defer func() { _ = conn.Close(context.Background()) }()
		var username string
		require.NoError(t, conn.QueryRow(t.Context(), "SELECT username FROM users WHERE id = 42").Scan(&username))
		require.Equal(t, "alice", username)
		require.True(t, schemaExists(t, a.Schema))
	})
	require.False(t, schemaExists(t, a.Schema), "schema %s left behind", a.Schema)
	require.False(t, schemaExists(t, b.Schema), "schema %s left behind", b.Schema)
}

func TestASessionIsOneConnectionToTheSchemaThatEndsWhenClosed(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	session := db.Session(t)
	require.EqualValues(t, 1, session.Config().MaxConns)
	var pid int32
	var schemaName string
	require.NoError(t, session.QueryRow(t.Context(), "SELECT pg_backend_pid(), current_schema()").Scan(&pid, &schemaName))
	require.Equal(t, db.Schema, schemaName)
	var again int32
	require.NoError(t, session.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&again))
	require.Equal(t, pid, again, "one session")

	session.Close()
	require.Eventually(t, func() bool {
		var alive bool
		require.NoError(t, db.Pool.QueryRow(t.Context(),
			"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", pid).Scan(&alive))
		return !alive
	}, 10*time.Second, 10*time.Millisecond, "the session outlived its pool")
}

func TestProxyCutIsAnOutageAndRestoreHeals(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	proxy := pgdbtest.NewProxy(t, db.Addr())
	pool, err := pgxpool.New(t.Context(), proxy.DSN(db.DSN))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(t.Context(), "INSERT INTO users (id) VALUES (1)")
	require.NoError(t, err)

	proxy.Cut()
	// Every way of reaching the database now fails as an outage: the idle
	// connection is dead, and a new one is refused.
	for range 3 {
		_, err = pool.Exec(t.Context(), "SELECT 1")
		require.Error(t, err)
		require.True(t, pgdb.IsUnavailable(err), "%v", err)
	}

	proxy.Restore()
	require.Eventually(t, func() bool {
		var n int
		return pool.QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&n) == nil && n == 1
	}, 5*time.Second, 20*time.Millisecond)
}

func TestExplainCallsShowsHowEachStatementRan(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	_, err := db.Pool.Exec(t.Context(), `INSERT INTO users (id, chat_id) SELECT g, g FROM generate_series(1, 20000) g; ANALYZE users`)
	require.NoError(t, err)
	plans := pgdbtest.ExplainCalls(t, db.DSN, func(ctx context.Context, pool *pgxpool.Pool) error {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM users WHERE id = $1", int64(42)).Scan(&n); err != nil {
			return err
		}
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM users WHERE first_name IS NULL").Scan(&n); err != nil {
			return err
		}
		_, err := pool.Exec(ctx, "DELETE FROM users WHERE id = $1", int64(7))
		return err
	})
	require.Len(t, plans, 3)
	require.True(t, plans[0].UsesIndex(), plans[0].Text)
	require.Empty(t, plans[0].SeqScans())
	require.Equal(t, []string{"users"}, plans[1].SeqScans(), plans[1].Text)
	require.Positive(t, plans[0].Took)
	var n int
	require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT count(*) FROM users WHERE id = 7").Scan(&n))
	require.Equal(t, 0, n, "the call itself ran")
}
