package pgdbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/schema"
)

// defaultURL is the local server scripts/ensure-postgres.sh provides.
const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// setupTimeout bounds each setup and cleanup step, so a hung server fails the
// test instead of the whole run's timeout.
const setupTimeout = 30 * time.Second

// DB is a migrated schema of its own for one test.
type DB struct {
	// Pool's connections all use the test's schema.
	Pool *pgxpool.Pool
	// DSN points at the same schema (search_path as a runtime parameter), for
	// a subprocess's DATABASE_URL or a pool of the code under test.
	DSN string
	// Schema is the schema's name.
	Schema string

	// rolesOnce applies the service roles for As, under rolePrefix.
	rolesOnce  sync.Once
	rolesErr   error
	rolePrefix string
}

// BaseURL returns the test server's URL: TEST_DATABASE_URL, else the local
// server. It fails the test if that server does not answer.
func BaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = defaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("no PostgreSQL answers for the tests (%v): run scripts/ensure-postgres.sh, or set TEST_DATABASE_URL", err)
	}
	_ = conn.Close(ctx)
	return base
}

// New creates a fresh schema, migrates it, and returns a pool and a DSN that
// use it. The schema is dropped and the pool closed when the test ends.
func New(t testing.TB) *DB {
	t.Helper()
	base := BaseURL(t)
	name := fmt.Sprintf("test_%d_%s", time.Now().Unix(), randomHex(t, 8))
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()

	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to create the test schema: %v", err)
	}
	defer func() { _ = admin.Close(context.Background()) }()
	sweepStale(ctx, admin)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("creating schema %s: %v", name, err)
	}
	t.Cleanup(func() { dropSchema(t, base, name) })

	dsn := withSearchPath(t, base, name)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatalf("opening the test pool: %v", err)
	}
	// Cleanups run last-in first-out: the pool closes before the schema drops.
	t.Cleanup(pool.Close)
	if err := schema.Migrate(ctx, pool, zerolog.Nop()); err != nil {
		t.Fatalf("migrating schema %s: %v", name, err)
	}
	return &DB{Pool: pool, DSN: dsn, Schema: name}
}

// Session returns a pool of one connection to the test's schema, closed
// when the test ends: one replica's database session, for the claims a
// replica makes under its pg_backend_pid. Closing it early is that replica
// dying: the server ends the session a moment later.
func (d *DB) Session(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(d.DSN)
	if err != nil {
		t.Fatalf("reading the test DSN: %v", err)
	}
	cfg.MaxConns = 1
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("opening a session pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Addr is the host:port of the server, the target for a Proxy.
func (d *DB) Addr() string {
	cfg := d.Pool.Config().ConnConfig
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// withSearchPath returns dsn with its search_path set to schemaName, which
// pgx sends as a run-time parameter when it connects.
func withSearchPath(t testing.TB, dsn, schemaName string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		// A keyword=value DSN: a later keyword wins.
		return dsn + " search_path=" + schemaName
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parsing the test database URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schemaName)
	u.RawQuery = q.Encode()
	return u.String()
}

// staleAge is the age past which a test schema belongs to a test binary that
// crashed before its cleanup, since no test runs that long.
const staleAge = time.Hour

// sweepStale drops the schemas that crashed test runs left behind, so they do
// not pile up in a developer's database. It is best effort: a failure here
// does not concern the test that runs it.
func sweepStale(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname ~ '^test_[0-9]+_[0-9a-f]+$'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		created, err := strconv.ParseInt(strings.Split(name, "_")[1], 10, 64)
		if err != nil || time.Since(time.Unix(created, 0)) < staleAge {
			continue
		}
		_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
	}
}

func dropSchema(t testing.TB, base, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Errorf("connecting to drop schema %s: %v", name, err)
		return
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("dropping schema %s: %v", name, err)
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("generating a schema name: %v", err)
	}
	return hex.EncodeToString(b)
}
