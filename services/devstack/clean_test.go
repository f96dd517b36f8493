package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/procs"
)

// TestCleanDropsTheDatabaseMakeRunCreated is make run on a server without its
// database, then make clean: the devstack creates the database and records
// it; clean drops it, though a session (a service a killed devstack left
// behind) still holds it, and removes the state folder.
func TestCleanDropsTheDatabaseMakeRunCreated(t *testing.T) {
	name, dsn := freshDatabaseName(t)
	dir := filepath.Join(t.TempDir(), ".data")
	env := newEnv(t, dir, dsn)

	d := startDevstack(t, env)
	require.Contains(t, d.out.String(), EventDatabaseCreated)
	const user = 4545
	d.sendText(t, user, "/start")
	d.waitMessage(t, user, "the main menu", withButton("trial"))
	d.interrupt(t)
	require.Equal(t, 1, countUsers(t, dsn, user))
	require.FileExists(t, filepath.Join(dir, createdDatabasesFile))

	session, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer session.Close(context.Background())
	out, err := runDevstackClean(t, env)
	require.NoError(t, err, out)
	require.Contains(t, out, fmt.Sprintf("dropped database %q", name))
	require.False(t, databaseExists(t, name), "the database make run created is still there")
	require.NoDirExists(t, dir)
}

// TestCleanLeavesADatabaseMakeRunDidNotCreate is DATABASE_URL pointed at a
// database of the user's: make run uses it without recording it, and make
// clean says it leaves it, leaves it with its data, and removes the state
// folder.
func TestCleanLeavesADatabaseMakeRunDidNotCreate(t *testing.T) {
	t.Parallel()
	name, dsn := freshDatabaseName(t)
	createDatabase(t, name)
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), `CREATE TABLE precious (v text); INSERT INTO precious VALUES ('kept')`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(t.Context()))

	created, err := ensureDatabase(t.Context(), dsn)
	require.NoError(t, err)
	require.Nil(t, created, "an existing database was taken for created")
	dir := stateDir(t)

	out, err := runDevstackClean(t, newEnv(t, dir, dsn))
	require.NoError(t, err, out)
	require.Contains(t, out, fmt.Sprintf("database %q on %s (DATABASE_URL) was not created by make run", name, serverAddr(t)))
	require.Equal(t, "kept", preciousValue(t, dsn))
	require.NoDirExists(t, dir)
}

// TestCleanLeavesADatabaseMadeSinceUnderTheSameName is a database make run
// created, dropped by someone, and made again under the same name: it is
// not make run's to drop.
func TestCleanLeavesADatabaseMadeSinceUnderTheSameName(t *testing.T) {
	t.Parallel()
	name, dsn := freshDatabaseName(t)
	dir := stateDir(t)
	created, err := ensureDatabase(t.Context(), dsn)
	require.NoError(t, err)
	require.NotNil(t, created)
	require.NoError(t, recordCreated(dir, *created))
	dropDatabaseIfExists(t, name)
	createDatabase(t, name)

	out, err := runDevstackClean(t, newEnv(t, dir, dsn))
	require.NoError(t, err, out)
	require.Contains(t, out, "is not the one make run created")
	require.True(t, databaseExists(t, name), "a database make run did not create was dropped")
	require.NoDirExists(t, dir)
}

// TestCleanWithoutRecordRemovesTheStateFolder is make clean after make runs
// that created no database and found no server answering at DATABASE_URL
// (so they used a private cluster): clean says there is no database there,
// not that it leaves one, and the folder goes with the cluster's files.
func TestCleanWithoutRecordRemovesTheStateFolder(t *testing.T) {
	t.Parallel()
	dir := stateDir(t)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "postgres", "data"), 0o700))
	port := freePort(t)
	out, err := runDevstackClean(t, newEnv(t, dir, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/vpnbot?sslmode=disable", port)))
	require.NoError(t, err, out)
	require.Contains(t, out, fmt.Sprintf("no PostgreSQL answers at 127.0.0.1:%d (DATABASE_URL), so there is no database there to drop; "+
		"make run's private cluster is in %s, and goes with it", port, filepath.Join(dir, "postgres")))
	require.NotContains(t, out, "was not created by make run")
	require.Contains(t, out, "removed "+dir)
	require.NoDirExists(t, dir)
}

// TestCleanRetriesADatabaseWhoseServerIsDown is make clean while the server
// of a database make run created does not answer: clean fails saying what it
// could not drop, empties the state folder but for the record, and a later
// clean, once the server answers, drops the database and the folder.
func TestCleanRetriesADatabaseWhoseServerIsDown(t *testing.T) {
	t.Parallel()
	name, dsn := freshDatabaseName(t)
	proxy := pgdbtest.NewProxy(t, serverAddr(t))
	dsn = proxy.DSN(dsn)
	dir := stateDir(t)
	created, err := ensureDatabase(t.Context(), dsn)
	require.NoError(t, err)
	require.NotNil(t, created)
	require.NoError(t, recordCreated(dir, *created))
	env := newEnv(t, dir, dsn)

	proxy.Cut()
	out, err := runDevstackClean(t, env)
	require.Error(t, err, "clean succeeded though it could not drop the database")
	require.Contains(t, out, fmt.Sprintf("could not drop database %q", name))
	require.True(t, databaseExists(t, name))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the state folder is not emptied but for the record")
	kept, err := readCreated(dir)
	require.NoError(t, err)
	require.Equal(t, []createdDatabase{*created}, kept)

	proxy.Restore()
	out, err = runDevstackClean(t, env)
	require.NoError(t, err, out)
	require.False(t, databaseExists(t, name), "the retried clean did not drop the database")
	require.NoDirExists(t, dir)
}

// TestCleanStopsAPrivateClusterLeftRunning is make clean after a devstack on
// a private cluster was killed: clean stops the cluster's server before
// removing its files.
func TestCleanStopsAPrivateClusterLeftRunning(t *testing.T) {
	t.Parallel()
	dir := stateDir(t)
	if os.Geteuid() == 0 {
		// As root the cluster runs as user postgres, which must be able to
		// enter the folders above it; t.TempDir's are the test user's only.
		require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
		require.NoError(t, os.Chmod(filepath.Dir(filepath.Dir(dir)), 0o755))
	}
	c, err := newCluster(t.Context(), zerolog.Nop(), filepath.Join(dir, "postgres"), freePort(t), "postgres")
	require.NoError(t, err)
	require.NoError(t, c.start(t.Context()))
	t.Cleanup(func() {
		if c.running(context.Background()) {
			_ = c.stop()
		}
	})
	pid := postmasterPID(t, dir)

	out, err := runDevstackClean(t, newEnv(t, dir, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/vpnbot?sslmode=disable", freePort(t))))
	require.NoError(t, err, out)
	require.Contains(t, out, "stopped the private PostgreSQL cluster")
	require.True(t, gone(pid), "the postmaster (pid %d) outlived clean", pid)
	require.NoDirExists(t, dir)
}

// TestTerminateAndDropEndsSessions is the drop for servers before 13, which
// have no DROP DATABASE … WITH (FORCE): it ends the database's sessions
// itself.
func TestTerminateAndDropEndsSessions(t *testing.T) {
	t.Parallel()
	name, dsn := freshDatabaseName(t)
	createDatabase(t, name)
	session, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer session.Close(context.Background())

	admin, err := pgx.Connect(t.Context(), pgdbtest.BaseURL(t))
	require.NoError(t, err)
	defer admin.Close(context.Background())
	require.NoError(t, terminateAndDrop(t.Context(), admin, name))
	require.False(t, databaseExists(t, name))
}

// TestCleanRefusesAFolderHoldingTheRepository guards against DEVSTACK_DIR
// set to the repository or above it.
func TestCleanRefusesAFolderHoldingTheRepository(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	require.NoError(t, err)
	root, err := procs.Root(wd)
	require.NoError(t, err)
	for _, dir := range []string{root, filepath.Dir(root), "/"} {
		require.Error(t, safeToRemove(dir, root), dir)
	}
	require.NoError(t, safeToRemove(filepath.Join(root, ".data"), root))
	require.NoError(t, safeToRemove(filepath.Join(root, "..data"), root))
}

// runDevstackClean runs `devstack clean`, as make clean does, and returns
// its output.
func runDevstackClean(t *testing.T, env []string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binary, "clean")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// stateDir is a state folder with something in it, as make run leaves.
func stateDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".data")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "nats"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nats", "store"), []byte("x"), 0o644))
	return dir
}

// freshDatabaseName returns a database name no server has yet and its DSN on
// the test server; the database is dropped when the test ends if it exists.
func freshDatabaseName(t *testing.T) (name, dsn string) {
	t.Helper()
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(t, err)
	name = "devstack_clean_" + hex.EncodeToString(b)
	u, err := url.Parse(pgdbtest.BaseURL(t))
	require.NoError(t, err)
	u.Path = "/" + name
	t.Cleanup(func() { dropDatabaseIfExists(t, name) })
	return name, u.String()
}

func serverAddr(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(pgdbtest.BaseURL(t))
	require.NoError(t, err)
	return u.Host
}

func adminExec(t *testing.T, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgdbtest.BaseURL(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), sql, args...)
	require.NoError(t, err)
}

func createDatabase(t *testing.T, name string) {
	t.Helper()
	adminExec(t, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

func dropDatabaseIfExists(t *testing.T, name string) {
	t.Helper()
	adminExec(t, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pgdbtest.BaseURL(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	return exists
}

func preciousValue(t *testing.T, dsn string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var v string
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT v FROM precious").Scan(&v))
	return v
}
