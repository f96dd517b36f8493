package schema_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/schema"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// emptySchema creates a schema with nothing in it, dropped when the test ends,
// and returns a pool whose search_path is that schema.
func emptySchema(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	base := pgdbtest.BaseURL(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	// Named as pgdbtest names its schemas, so that it sweeps this one too
	// should the test binary crash before the cleanup.
	name := fmt.Sprintf("test_%d_%s", time.Now().Unix(), hex.EncodeToString(b))
	admin, err := pgx.Connect(t.Context(), base)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE")
		require.NoError(t, err)
		require.NoError(t, admin.Close(context.Background()))
	})
	_, err = admin.Exec(t.Context(), "CREATE SCHEMA "+name)
	require.NoError(t, err)
	return poolIn(t, base, name), name
}

// stepwise is an empty schema and the migrations as a goose provider over
// it, for a test that migrates up to a version, looks, and goes on or back.
func stepwise(t *testing.T) (*pgxpool.Pool, *goose.Provider) {
	t.Helper()
	pool, _ := emptySchema(t)
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	provider, err := goose.NewProvider(goose.DialectPostgres, db, os.DirFS("migrations"),
		goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	return pool, provider
}

func poolIn(t *testing.T, base, schemaName string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(base)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["search_path"] = schemaName
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func tablesIn(t *testing.T, pool *pgxpool.Pool, schemaName string) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(),
		"SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name", schemaName)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

func TestMigrateCreatesTablesOnceAndIsIdempotent(t *testing.T) {
	t.Parallel()
	pool, name := emptySchema(t)
	var logs obstest.LogBuffer
	log := obstest.NewLogger(&logs)

	require.NoError(t, schema.Migrate(t.Context(), pool, log))
	files := migrationFiles(t)
	applied := logs.Events(t, schema.EventMigrationApplied)
	require.Len(t, applied, len(files))
	for i, a := range applied {
		// Numbered files may leave a number out (one taken by a migration
		// on another branch); they apply in their order all the same.
		version, err := strconv.Atoi(strings.SplitN(files[i], "_", 2)[0])
		require.NoError(t, err, files[i])
		require.EqualValues(t, version, a["version"], "migrations apply in order")
		require.Equal(t, files[i], a["file"])
	}
	require.Equal(t, []string{
		"admin_audit", "admin_inputs", "admin_roles", "auto_renewals", "balances", "broadcast_recipients", "broadcasts", "feed_events", "feed_messages", "feed_state", "goose_db_version", "invoices", "ledger", "notifications_sent",
		"plans", "processed_updates", "promo_codes", "promo_uses", "referrals", "sent_messages", "subscriptions", "telegram_chat_pace",
		"trials", "user_notices", "users", "vpn_accesses", "vpn_accounts", "vpn_panels",
	}, tablesIn(t, pool, name))
	var indexed bool
	// Not pg_indexes: its pg_get_indexdef may run on other schemas' rows,
	// and fails on an index that a parallel test's schema drop just removed.
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = to_regclass(quote_ident($1) || '.processed_updates')
		  AND i.indnatts = 1 AND a.attname = 'handled_at')`, name).Scan(&indexed))
	require.True(t, indexed, "the inbox cannot be pruned by age without an index on handled_at")

	require.NoError(t, schema.Migrate(t.Context(), pool, log))
	require.Len(t, logs.Events(t, schema.EventMigrationApplied), len(files), "the second run applied something again")
}

// migrationFiles lists the numbered migration files, in order.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	require.NotEmpty(t, names)
	return names
}

func TestConcurrentMigratorsApplyEachMigrationOnce(t *testing.T) {
	t.Parallel()
	_, name := emptySchema(t)
	var logs obstest.LogBuffer
	base := pgdbtest.BaseURL(t)
	errs := make(chan error, 3)
	for range cap(errs) {
		pool := poolIn(t, base, name)
		go func() { errs <- schema.Migrate(t.Context(), pool, obstest.NewLogger(&logs)) }()
	}
	for range cap(errs) {
		require.NoError(t, <-errs)
	}
	require.Len(t, logs.Events(t, schema.EventMigrationApplied), len(migrationFiles(t)), "each migration applied once in all")
}

func TestMigrateFailsWhenTheSchemaDoesNotExist(t *testing.T) {
	t.Parallel()
	pool := poolIn(t, pgdbtest.BaseURL(t), "no_such_schema_for_vpnbot")
	err := schema.Migrate(t.Context(), pool, zerolog.Nop())
	require.ErrorContains(t, err, "no schema of the search_path exists")
}

func TestSchemaEnforcesUsersAndInboxInvariants(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	ctx := t.Context()

	_, err := db.Pool.Exec(ctx, "INSERT INTO users (id, chat_id, language_code) VALUES (1, 1, 'de')")
	require.NoError(t, err)
	var language string
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT language FROM users WHERE id = 1").Scan(&language))
	require.Equal(t, "en", language, "a user whose Telegram language we do not speak gets English")
	_, err = db.Pool.Exec(ctx, "UPDATE users SET language = 'de' WHERE id = 1")
	requireSQLState(t, err, "23514") // check_violation

	_, err = db.Pool.Exec(ctx, "INSERT INTO processed_updates (bot_id, update_id) VALUES (10, 500)")
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "INSERT INTO processed_updates (bot_id, update_id) VALUES (10, 500)")
	requireSQLState(t, err, "23505") // unique_violation: a redelivered update is seen as handled
	_, err = db.Pool.Exec(ctx, "INSERT INTO processed_updates (bot_id, update_id) VALUES (11, 500)")
	require.NoError(t, err, "update ids of another bot are another sequence")
}

func requireSQLState(t *testing.T, err error, code string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "want SQLSTATE %s, got %v", code, err)
	require.Equal(t, code, pgErr.Code)
}
