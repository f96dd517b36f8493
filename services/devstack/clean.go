package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// createdDatabasesFile, in the state folder, lists the databases the devstack
// created on the server at DATABASE_URL, for `devstack clean` to drop: it
// drops no other, so a database someone pointed DATABASE_URL at survives.
const createdDatabasesFile = "created-databases"

// EventDatabaseCreated marks the devstack's creating the database at
// DATABASE_URL, which `make clean` will drop.
const EventDatabaseCreated = "DEVSTACK_DATABASE_CREATED"

// cleanConnectTimeout bounds clean's wait for a server to answer.
const cleanConnectTimeout = 10 * time.Second

// pgForceDropVersion is the first server_version_num whose DROP DATABASE
// takes WITH (FORCE), ending the database's sessions itself.
const pgForceDropVersion = 130000

// createdDatabase is a database the devstack created. Its password is not
// kept: clean takes it from DATABASE_URL, PGPASSWORD or ~/.pgpass.
type createdDatabase struct {
	Host string `json:"host"`
	Port uint16 `json:"port"`
	User string `json:"user"`
	Name string `json:"name"`
	// OID tells the database the devstack created from one made later
	// under the same name, which clean must leave alone.
	OID uint32 `json:"oid"`
}

func (d createdDatabase) String() string {
	return fmt.Sprintf("database %q on %s:%d", d.Name, d.Host, d.Port)
}

func (d createdDatabase) sameAs(o createdDatabase) bool {
	return d.Host == o.Host && d.Port == o.Port && d.Name == o.Name
}

// recordCreated adds db to the state folder's list of created databases,
// in place of an earlier one of the same name and server.
func recordCreated(dir string, db createdDatabase) error {
	dbs, err := readCreated(dir)
	if err != nil {
		return err
	}
	kept := []createdDatabase{db}
	for _, d := range dbs {
		if !d.sameAs(db) {
			kept = append(kept, d)
		}
	}
	return writeCreated(dir, kept)
}

func readCreated(dir string) ([]createdDatabase, error) {
	var dbs []createdDatabase
	if _, err := statefile.Read(filepath.Join(dir, createdDatabasesFile), &dbs); err != nil {
		return nil, fmt.Errorf("reading the list of created databases: %w", err)
	}
	return dbs, nil
}

// writeCreated replaces the list with dbs, whole or not at all.
func writeCreated(dir string, dbs []createdDatabase) error {
	if err := statefile.Write(filepath.Join(dir, createdDatabasesFile), dbs); err != nil {
		return fmt.Errorf("writing the list of created databases: %w", err)
	}
	return nil
}

// clean is `make clean`: it drops the databases the devstack created, stops
// a private cluster that a killed devstack left running, and removes the
// state folder dir, telling out what it did. A database it cannot drop now
// (its server does not answer) stays listed in dir, which is otherwise
// emptied, so that a later clean drops it; clean then fails.
func clean(ctx context.Context, log zerolog.Logger, out io.Writer, root, dir, databaseURL string) error {
	if err := safeToRemove(dir, root); err != nil {
		return err
	}
	dbs, err := readCreated(dir)
	if err != nil {
		return err
	}
	noticeUncreated(ctx, out, dbs, databaseURL, dir)
	var left []createdDatabase
	var errs []error
	for _, db := range dbs {
		if err := dropCreated(ctx, out, db, databaseURL); err != nil {
			left = append(left, db)
			errs = append(errs, err)
		}
	}
	stopped, err := stopLeftCluster(ctx, log, filepath.Join(dir, "postgres"))
	if err != nil {
		// Its files must not go from under a running server.
		return errors.Join(append(errs, fmt.Errorf("%w; kept %s", err, dir))...)
	}
	if stopped {
		fmt.Fprintf(out, "stopped the private PostgreSQL cluster in %s, which a killed devstack had left running\n", filepath.Join(dir, "postgres"))
	}
	if len(left) == 0 {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing %s: %w", dir, err)
		}
		fmt.Fprintf(out, "removed %s\n", dir)
		return nil
	}
	if err := removeAllBut(dir, createdDatabasesFile); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := writeCreated(dir, left); err != nil {
		return errors.Join(append(errs, err)...)
	}
	fmt.Fprintf(out, "emptied %s but for %s, which lists the databases still to drop: run make clean again once their server answers\n",
		dir, createdDatabasesFile)
	return errors.Join(errs...)
}

// noticeUncreated says, in one line, that the database at DATABASE_URL
// stays when the devstack did not create it, or that there is none when no
// server answers there (make run then used its private cluster, whose
// folder goes with the state folder dir).
func noticeUncreated(ctx context.Context, out io.Writer, dbs []createdDatabase, databaseURL, dir string) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return
	}
	at := createdDatabase{Host: cfg.Host, Port: cfg.Port, Name: cfg.Database}
	for _, db := range dbs {
		if db.sameAs(at) {
			return
		}
	}
	if !answers(ctx, cfg.Host, cfg.Port) {
		private := ""
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			private = fmt.Sprintf("; make run's private cluster is in %s, and goes with it", filepath.Join(dir, "postgres"))
		}
		fmt.Fprintf(out, "no PostgreSQL answers at %s:%d (DATABASE_URL), so there is no database there to drop%s\n",
			cfg.Host, cfg.Port, private)
		return
	}
	fmt.Fprintf(out, "%s (DATABASE_URL) was not created by make run, so make clean leaves it as it is\n", at)
}

// dropCreated drops db when the database of its name is still the one the
// devstack created. It fails only when it could not tell or drop.
func dropCreated(ctx context.Context, out io.Writer, db createdDatabase, databaseURL string) error {
	cfg, err := adminConfig(db, databaseURL)
	if err != nil {
		return fmt.Errorf("%s: %w", db, err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		fmt.Fprintf(out, "could not drop %s, which make run created: its server does not answer (%v)\n", db, err)
		return fmt.Errorf("dropping %s: %w", db, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var oid uint32
	err = conn.QueryRow(ctx, "SELECT oid FROM pg_database WHERE datname = $1", db.Name).Scan(&oid)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		fmt.Fprintf(out, "%s, which make run created, is gone already\n", db)
		return nil
	case err != nil:
		fmt.Fprintf(out, "could not drop %s, which make run created: %v\n", db, err)
		return fmt.Errorf("looking for %s: %w", db, err)
	case oid != db.OID:
		fmt.Fprintf(out, "%s is not the one make run created, but one made since under its name: left as it is\n", db)
		return nil
	}
	if err := dropDatabase(ctx, conn, db.Name); err != nil {
		fmt.Fprintf(out, "could not drop %s, which make run created: %v\n", db, err)
		return fmt.Errorf("dropping %s: %w", db, err)
	}
	fmt.Fprintf(out, "dropped %s, which make run created\n", db)
	return nil
}

// adminConfig is how to reach db's server: as DATABASE_URL says (its
// password and TLS settings) when that is the same server and user, else as
// the record says, with libpq's environment and ~/.pgpass for the rest.
func adminConfig(db createdDatabase, databaseURL string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil || cfg.Host != db.Host || cfg.Port != db.Port || cfg.User != db.User {
		cfg, err = pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=postgres",
			quoteKeyword(db.Host), db.Port, quoteKeyword(db.User)))
		if err != nil {
			return nil, err
		}
	}
	cfg.Database = "postgres"
	cfg.ConnectTimeout = cleanConnectTimeout
	return cfg, nil
}

// quoteKeyword quotes a value of a keyword=value connection string.
func quoteKeyword(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// dropDatabase drops the database name, ending its sessions first: a
// service a killed devstack left behind may still hold one.
func dropDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return fmt.Errorf("reading the server's version: %w", err)
	}
	if version < pgForceDropVersion {
		return terminateAndDrop(ctx, conn, name)
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping database %q: %w", name, err)
	}
	return nil
}

// terminateAndDrop is dropDatabase for servers before 13, whose DROP
// DATABASE fails while the database has sessions (it waits a few seconds for
// the terminated ones to end).
func terminateAndDrop(ctx context.Context, conn *pgx.Conn, name string) error {
	if _, err := conn.Exec(ctx,
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
		return fmt.Errorf("ending the sessions of database %q: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("dropping database %q: %w", name, err)
	}
	return nil
}

// stopLeftCluster stops the private cluster in pgDir when a devstack killed
// before it could stop it left it running, and reports whether it did.
func stopLeftCluster(ctx context.Context, log zerolog.Logger, pgDir string) (bool, error) {
	c := clusterAt(log, pgDir, 0)
	if !isFile(filepath.Join(c.data, "postmaster.pid")) {
		return false, nil
	}
	bin, err := findPGBin(c.data)
	if err != nil {
		return false, fmt.Errorf("%s says a private PostgreSQL may run there, but there is no pg_ctl to stop it: %w",
			filepath.Join(c.data, "postmaster.pid"), err)
	}
	c.bin = bin
	if os.Geteuid() == 0 {
		if c.cred, err = unprivileged(pgDir); err != nil {
			return false, err
		}
	}
	// A server that crashed leaves its postmaster.pid behind.
	if !c.running(ctx) {
		return false, nil
	}
	return true, c.stop()
}

// safeToRemove refuses a state folder that holds the repository or the home
// folder: DEVSTACK_DIR set by mistake must not cost them.
func safeToRemove(dir, root string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("state folder %s: %w", dir, err)
	}
	precious := []string{root}
	if home, err := os.UserHomeDir(); err == nil {
		precious = append(precious, home)
	}
	for _, p := range precious {
		rel, err := filepath.Rel(abs, p)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fmt.Errorf("refusing to remove the state folder %s (DEVSTACK_DIR): it holds %s", abs, p)
		}
	}
	return nil
}

// removeAllBut removes everything in dir except the file keep.
func removeAllBut(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("emptying %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.Name() == keep {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("emptying %s: %w", dir, err)
		}
	}
	return nil
}
