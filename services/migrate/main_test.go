package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/schema"
)

// runMainEnv makes the test binary run the job itself, so a test sees its
// exit code and output as an orchestrator would.
const runMainEnv = "VPNBOT_MIGRATE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// testRolePrefix gives a test's job roles of its own (roles belong to the whole
// server, and tests run in parallel), dropped when the test ends.
func testRolePrefix(t *testing.T, db *pgdbtest.DB) string {
	t.Helper()
	prefix := "t" + strings.TrimPrefix(db.Schema, "test_") + "_"
	t.Cleanup(func() {
		ctx := context.Background()
		for _, r := range schema.Roles {
			name := schema.RoleName(prefix, r.Service)
			var exists bool
			require.NoError(t, db.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists))
			if !exists {
				continue
			}
			role := pgx.Identifier{name}.Sanitize()
			_, err := db.Pool.Exec(ctx, "DROP OWNED BY "+role+"; DROP ROLE "+role)
			require.NoError(t, err)
		}
	})
	return prefix
}

// runJob runs the job with databaseURL and the roles' prefix, and returns
// its exit code, its log lines by event, and its stderr.
func runJob(t *testing.T, databaseURL, prefix string) (int, map[string]map[string]any, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "DATABASE_URL="+databaseURL, "INSTANCE=job-1", "DB_ROLE_PREFIX="+prefix)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else {
		require.NoError(t, err)
	}
	events := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		require.Equal(t, "migrate", m["service"])
		if ev, ok := m["event"].(string); ok {
			events[ev] = m
		}
	}
	return code, events, stderr.String()
}

func TestJobMigratesAnEmptySchemaAndExitsZero(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	// pgdbtest migrated the schema; empty it again for the job.
	schemaName := pgx.Identifier{db.Schema}.Sanitize()
	_, err := db.Pool.Exec(t.Context(), "DROP SCHEMA "+schemaName+" CASCADE; CREATE SCHEMA "+schemaName)
	require.NoError(t, err)

	prefix := testRolePrefix(t, db)
	code, events, stderr := runJob(t, db.DSN, prefix)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, events, "SERVICE_START")
	require.EqualValues(t, 1, events["SERVICE_START"]["DB_POOL_MAX_SIZE"])
	require.Equal(t, "job-1", events["SERVICE_START"]["instance"])
	require.EqualValues(t, 1, events["DB_POOL_MAX_SIZE"]["value"])
	require.Contains(t, events, schema.EventMigrationApplied)
	require.Contains(t, events, "SERVICE_STOP")
	require.Contains(t, events, schema.EventRoleApplied)
	var limit int
	require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1",
		schema.RoleName(prefix, "bot-handler")).Scan(&limit))
	require.Equal(t, 40, limit, "bot-handler: pool 10 × 4 replicas")

	var n int
	require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&n))
	require.Zero(t, n)

	code, events, stderr = runJob(t, db.DSN, prefix)
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, events, schema.EventMigrationApplied, "a second run must change nothing")
}

func TestJobExitsOneWhenTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	proxy := pgdbtest.NewProxy(t, db.Addr())
	proxy.Cut()

	code, events, stderr := runJob(t, proxy.DSN(db.DSN), testRolePrefix(t, db))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "finding the schema to migrate")
	require.Equal(t, "error", events["SERVICE_STOP"]["level"])
	require.Contains(t, events["SERVICE_STOP"]["error"], "finding the schema to migrate")
}
