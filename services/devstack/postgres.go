package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
)

const (
	// pgProbeTimeout bounds the check whether DATABASE_URL's server answers.
	pgProbeTimeout = 3 * time.Second
	// pgCtlTimeout bounds pg_ctl's wait for the private cluster to start or
	// stop (seconds, as pg_ctl -t takes it); a cold start after a crash
	// replays its WAL first.
	pgCtlTimeout = 120
	// pgUser is the unprivileged user the private cluster runs as when the
	// devstack runs as root, which initdb and postgres refuse.
	pgUser = "postgres"
	// debianPGBin is where Debian and Ubuntu install each major version.
	debianPGBin = "/usr/lib/postgresql"
)

// EventPrivatePostgres marks the log lines of the devstack's own cluster:
// falling back to it, creating, starting and stopping it.
const EventPrivatePostgres = "DEVSTACK_PRIVATE_POSTGRES"

// errNoPostgres says what to install when there is neither a server nor the
// binaries to run one.
var errNoPostgres = errors.New("no PostgreSQL server answers at DATABASE_URL, and initdb/pg_ctl are not installed: " +
	"install PostgreSQL (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; " +
	"macOS: brew install postgresql) or set DATABASE_URL to a server you have")

// setupPostgres returns the DATABASE_URL the services are to use and a
// function that stops whatever setupPostgres started. When the server of dsn
// answers, that is dsn itself and nothing is started. Otherwise it is a
// private cluster under dir/postgres on 127.0.0.1:port, created on first use
// and kept across runs, with the user and database name of dsn.
func setupPostgres(ctx context.Context, log zerolog.Logger, dsn, dir string, port int) (string, func() error, error) {
	pgc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if answers(ctx, pgc.Host, pgc.Port) {
		return dsn, func() error { return nil }, nil
	}
	log.Warn().Str("event", EventPrivatePostgres).Str("host", pgc.Host).Uint16("port", pgc.Port).
		Str("dir", filepath.Join(dir, "postgres")).Int("private_port", port).
		Msg("no PostgreSQL answers at DATABASE_URL: using a private cluster")
	c, err := newCluster(ctx, log, filepath.Join(dir, "postgres"), port, pgc.User)
	if err != nil {
		return "", nil, err
	}
	if err := c.start(ctx); err != nil {
		// Interrupted after the server came up: it must not outlive us.
		if c.running(context.Background()) {
			err = errors.Join(err, c.stop())
		}
		return "", nil, err
	}
	private, err := withHostPort(dsn, "127.0.0.1", port)
	if err != nil {
		return "", nil, errors.Join(err, c.stop())
	}
	return private, c.stop, nil
}

// answers reports whether something accepts connections at host:port (a
// Unix socket folder when host is a path, as libpq has it).
func answers(ctx context.Context, host string, port uint16) bool {
	network, addr := "tcp", net.JoinHostPort(host, strconv.Itoa(int(port)))
	if strings.HasPrefix(host, "/") {
		network, addr = "unix", filepath.Join(host, fmt.Sprintf(".s.PGSQL.%d", port))
	}
	d := net.Dialer{Timeout: pgProbeTimeout}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// withHostPort returns dsn (a URL) pointing at host:port instead.
func withHostPort(dsn, host string, port int) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("DATABASE_URL: a private cluster needs a postgres:// URL: %v", err)
	}
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	return u.String(), nil
}

// cluster is the devstack's private PostgreSQL cluster.
type cluster struct {
	log     zerolog.Logger
	bin     string // the folder of initdb, pg_ctl and postgres
	dir     string // dir/postgres: the data folder and the server's log
	data    string
	logFile string
	port    int
	// cred runs the commands as pgUser when the devstack is root; nil
	// otherwise.
	cred *syscall.Credential
}

// newCluster finds the PostgreSQL binaries (installing them with apt-get
// when they are missing and the devstack is root) and creates the cluster
// under dir with superuser su, unless it exists already.
func newCluster(ctx context.Context, log zerolog.Logger, dir string, port int, su string) (*cluster, error) {
	c := clusterAt(log, dir, port)
	bin, err := findPGBin(c.data)
	if errors.Is(err, errNoPostgres) && os.Geteuid() == 0 && hasCommand("apt-get") {
		if err := aptInstallPostgres(ctx, log); err != nil {
			return nil, err
		}
		bin, err = findPGBin(c.data)
	}
	if err != nil {
		return nil, err
	}
	c.bin = bin
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	if os.Geteuid() == 0 {
		if c.cred, err = unprivileged(dir); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(c.data, "PG_VERSION")); err == nil {
		return c, nil
	}
	if su == "" {
		su = pgUser
	}
	start := time.Now()
	if out, err := c.cmd(ctx, "initdb", "-D", c.data, "-U", su, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync").CombinedOutput(); err != nil {
		if c.cred != nil {
			err = fmt.Errorf("%w (run as user %s, which must be able to enter every folder above %s)", err, pgUser, dir)
		}
		return nil, fmt.Errorf("initdb %s: %w\n%s", c.data, err, out)
	}
	// TCP on 127.0.0.1 only (trust auth, so never further), and no Unix
	// socket, whose usual folder an unprivileged user may not write.
	conf := "\n# devstack\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
	if err := appendFile(filepath.Join(c.data, "postgresql.conf"), conf); err != nil {
		return nil, err
	}
	log.Info().Str("event", EventPrivatePostgres).Str("data", c.data).Dur("took", time.Since(start)).Msg("private PostgreSQL cluster created")
	return c, nil
}

// clusterAt is the cluster in dir, without its binaries yet.
func clusterAt(log zerolog.Logger, dir string, port int) *cluster {
	return &cluster{log: log, dir: dir, data: filepath.Join(dir, "data"), logFile: filepath.Join(dir, "postgres.log"), port: port}
}

// findPGBin returns the folder of initdb and pg_ctl: Debian's of the data
// folder's major version when it exists, else the newest of Debian's, else
// the ones on PATH.
func findPGBin(data string) (string, error) {
	if v, err := os.ReadFile(filepath.Join(data, "PG_VERSION")); err == nil {
		bin := filepath.Join(debianPGBin, strings.TrimSpace(string(v)), "bin")
		if isFile(filepath.Join(bin, "pg_ctl")) {
			return bin, nil
		}
	}
	initdbs, _ := filepath.Glob(filepath.Join(debianPGBin, "*", "bin", "initdb"))
	slices.SortFunc(initdbs, func(a, b string) int { return majorVersion(b) - majorVersion(a) })
	for _, initdb := range initdbs {
		if bin := filepath.Dir(initdb); isFile(filepath.Join(bin, "pg_ctl")) {
			return bin, nil
		}
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return "", errNoPostgres
	}
	// A symlink on PATH (e.g. /usr/local/bin/initdb) leads to the folder
	// that holds pg_ctl and postgres too.
	if real, err := filepath.EvalSymlinks(initdb); err == nil {
		initdb = real
	}
	bin := filepath.Dir(initdb)
	if !isFile(filepath.Join(bin, "pg_ctl")) {
		return "", errNoPostgres
	}
	return bin, nil
}

// majorVersion reads the version folder of a Debian binary path
// (/usr/lib/postgresql/15/bin/initdb → 15); 0 when it is not a number.
func majorVersion(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// aptInstallPostgres installs Debian's postgresql package, its output going
// to the devstack's.
func aptInstallPostgres(ctx context.Context, log zerolog.Logger) error {
	log.Info().Str("event", EventPrivatePostgres).Msg("installing PostgreSQL with apt-get")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "postgresql"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	return nil
}

// unprivileged returns the credentials of pgUser and gives it dir: initdb
// and postgres refuse to run as root.
func unprivileged(dir string) (*syscall.Credential, error) {
	u, err := user.Lookup(pgUser)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no %q user to run it as "+
			"(create one, e.g. useradd --system %s, or run make run as a normal user): %w", pgUser, pgUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", pgUser, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", pgUser, u.Gid, err)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, fmt.Errorf("giving %s to user %s: %w", dir, pgUser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// cmd is one of the cluster's commands, run as its user.
func (c *cluster) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir // a folder the command's user may enter
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// start starts the server and waits until it accepts connections. A server
// an earlier devstack left running (killed before it could stop it) is
// restarted, so that it listens on this run's port.
func (c *cluster) start(ctx context.Context) error {
	if c.running(ctx) {
		c.log.Warn().Str("event", EventPrivatePostgres).Msg("private PostgreSQL cluster left running by an earlier devstack: restarting it")
		if err := c.stop(); err != nil {
			return err
		}
	}
	started := time.Now()
	// pg_ctl detaches the server into a session of its own, so a terminal's
	// Ctrl-C reaches the devstack only, which stops the server last.
	out, err := c.cmd(ctx, "pg_ctl", "start", "-D", c.data, "-l", c.logFile, "-w", "-t", strconv.Itoa(pgCtlTimeout),
		"-o", "-p "+strconv.Itoa(c.port)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("starting the private PostgreSQL cluster %s on port %d: %w\n%s%s", c.data, c.port, err, out, c.logTail())
	}
	c.log.Info().Str("event", EventPrivatePostgres).Int("port", c.port).Dur("took", time.Since(started)).
		Str("log", c.logFile).Msg("private PostgreSQL cluster started")
	return nil
}

// running reports whether pg_ctl sees the cluster's server running.
func (c *cluster) running(ctx context.Context) bool {
	return c.cmd(ctx, "pg_ctl", "status", "-D", c.data).Run() == nil
}

// stop stops the server (fast: open sessions are ended, which by now are
// none, as the services stopped first) and waits until it is gone.
func (c *cluster) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), (pgCtlTimeout+10)*time.Second)
	defer cancel()
	out, err := c.cmd(ctx, "pg_ctl", "stop", "-D", c.data, "-m", "fast", "-w", "-t", strconv.Itoa(pgCtlTimeout)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("stopping the private PostgreSQL cluster %s: %w\n%s", c.data, err, out)
	}
	c.log.Info().Str("event", EventPrivatePostgres).Msg("private PostgreSQL cluster stopped")
	return nil
}

// logTail is the end of the server's log, which says why a start failed
// (such as the port being taken).
func (c *cluster) logTail() string {
	b, err := os.ReadFile(c.logFile)
	if err != nil {
		return ""
	}
	const keep = 2000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return "server log " + c.logFile + ":\n" + string(bytes.TrimSpace(b))
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("configuring the private cluster: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close()
		return fmt.Errorf("configuring the private cluster: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("configuring the private cluster: %w", err)
	}
	return nil
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func hasCommand(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
