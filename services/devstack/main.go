// Command devstack is the `make run` program: it gets PostgreSQL ready,
// starts the whole system on this machine as a local stack (pkg/localstack:
// every service its own process, the fakes of pkg/sandbox in-process) and
// serves the stack's console (pkg/localstack/console) for a person to chat
// with the bot and break things; services/sandbox-server, by contrast, serves
// only the fakes, for docker compose. In detail: an embedded NATS with
// JetStream kept under .data/, PostgreSQL (the server at DATABASE_URL, else a
// private cluster under .data/postgres), the migrations, every service with
// its whole log in .data/logs and a quiet console (terminal.go), and the
// sandbox Telegram that a person (or curl) talks to — or real Telegram,
// Crypto Pay and VPN panel, each when configured.
//
// One devstack runs per state folder: it holds a lock there (flock, which
// the kernel releases however the process ends), and a second one, or a
// make clean, says in one line which process has the folder and exits 1
// without touching anything of it. The sandboxes keep their state in the
// folder too (.data/sandbox), so a restart goes on with the same chats,
// invoices and pay links.
//
// Ctrl-C (SIGINT) or SIGTERM stops every service, then the broker and the
// private cluster, and exits 0. The services run in process groups of their
// own, so a terminal's Ctrl-C reaches the devstack only, which stops them in
// order.
//
// `devstack clean` (make clean) undoes it: it drops the database the devstack
// created at DATABASE_URL, never one it found there, and removes the state
// folder.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/procs"
)

// Config is the devstack's configuration. The services' own settings can be
// overridden too: the devstack passes its environment on to them.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" secret:"dsn"`
	Dir         string `env:"DEVSTACK_DIR"`
	// SandboxAddr is where the console listens (the chat, the status page,
	// the switches, and the sandbox Telegram's /sandbox/ API).
	SandboxAddr string `env:"SANDBOX_ADDR"`
	// BotAPIAddr is where the sandbox Telegram's Bot API listens, for the
	// services (TELEGRAM_API_URL).
	BotAPIAddr  string `env:"SANDBOX_BOTAPI_ADDR"`
	GatewayAddr string `env:"GATEWAY_ADDR"`
	NATSPort    int    `env:"DEVSTACK_NATS_PORT"`
	BotHandlers int    `env:"BOT_HANDLERS"`
	LogLevel    string `env:"LOG_LEVEL"`
	// PGPort is the private PostgreSQL cluster's port, used when no server
	// answers at DatabaseURL.
	PGPort int `env:"DEVSTACK_PG_PORT"`
	// OpsPort is the first of the services' ops ports (0: free ports).
	OpsPort       int    `env:"DEVSTACK_OPS_PORT"`
	CryptoPayAddr string `env:"DEVSTACK_CRYPTOPAY_ADDR"`
	OutlineAddr   string `env:"DEVSTACK_OUTLINE_ADDR"`
	// TimeScale is ScaleDemo or ScaleReal.
	TimeScale string `env:"DEVSTACK_TIME_SCALE"`
	Real
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args := os.Args[1:]; {
	case len(args) == 0:
		err = run(ctx)
	case len(args) == 1 && args[0] == "clean":
		err = runClean(ctx)
	default:
		err = errors.New("usage: devstack [clean]; clean (make clean) drops the database make run created and removes the state folder")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

// setup finds the repository and reads the configuration, for run and clean
// alike.
func setup() (root string, cfg Config, log zerolog.Logger, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", cfg, log, err
	}
	root, err = procs.Root(wd)
	if err != nil {
		return "", cfg, log, fmt.Errorf("run devstack from the repository (make run): %w", err)
	}
	cfg, err = config.Load(Config{
		DatabaseURL: "postgres://postgres@127.0.0.1:5432/vpnbot?sslmode=disable",
		Dir:         filepath.Join(root, ".data"),
		SandboxAddr: "127.0.0.1:8080",
		// Any free port: the services are told it, and people reach the
		// sandbox through the console at SandboxAddr.
		BotAPIAddr:  "127.0.0.1:0",
		GatewayAddr: "127.0.0.1:8081",
		// Not 4222: a machine's own (possibly older) NATS often sits there.
		NATSPort:    4233,
		BotHandlers: 1,
		LogLevel:    "info",
		// Beside the machine's own server, which may be at 5432.
		PGPort: 5433,
		// A fixed port: the pay links in the chats point there, and must
		// open after a restart.
		CryptoPayAddr: "127.0.0.1:8082",
		OutlineAddr:   "127.0.0.1:0",
		TimeScale:     ScaleDemo,
	})
	if err != nil {
		return "", cfg, log, err
	}
	log, err = obs.NewLogger(os.Stderr, "devstack", "local", cfg.LogLevel)
	return root, cfg, log, err
}

// runClean is make clean: see clean. It refuses while a devstack runs on
// the state folder.
func runClean(ctx context.Context) error {
	root, cfg, log, err := setup()
	if err != nil {
		return err
	}
	if err := safeToRemove(cfg.Dir, root); err != nil {
		return err
	}
	// No folder, no devstack running on it, and nothing to create.
	if _, err := os.Stat(cfg.Dir); err == nil {
		in, err := lockInstance(cfg.Dir)
		if err != nil {
			return err
		}
		defer in.release()
	}
	return clean(ctx, log, os.Stdout, root, cfg.Dir, cfg.DatabaseURL)
}

func run(ctx context.Context) (err error) {
	root, cfg, log, err := setup()
	if err != nil {
		return err
	}
	// First of all: a second devstack must not touch the first one's
	// cluster, ports, files or logs, nor print more than its refusal.
	in, err := lockInstance(cfg.Dir)
	if err != nil {
		return err
	}
	defer in.release()
	logDir := filepath.Join(cfg.Dir, logFolder)
	term, log, closeLog, err := openConsole(os.Stdout, log, logDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	log.Info().Str("event", obs.EventConfig).Fields(config.Fields(cfg)).Msg("configuration")
	scaleEnv, err := timeScaleEnv(cfg.TimeScale)
	if err != nil {
		return err
	}
	dsn, stopPostgres, err := setupPostgres(ctx, log, cfg.DatabaseURL, cfg.Dir, cfg.PGPort)
	if err != nil {
		return err
	}
	// Deferred first, so it runs last: the services stop before their database.
	defer func() { err = errors.Join(err, stopPostgres()) }()
	created, err := ensureDatabase(ctx, dsn)
	if err != nil {
		return err
	}
	// Recorded for make clean to drop. A database in the private cluster
	// (dsn differs) goes with the cluster's folder instead.
	if created != nil && dsn == cfg.DatabaseURL {
		if err := recordCreated(cfg.Dir, *created); err != nil {
			return err
		}
		log.Info().Str("event", EventDatabaseCreated).Str("database", created.Name).Str("host", created.Host).
			Uint16("port", created.Port).Msg("database created; make clean drops it")
	}

	log.Info().Msg("building the services and starting the system…")
	sc := localstack.Config{
		Dir:           cfg.Dir,
		Root:          root,
		DatabaseURL:   dsn,
		NATSPort:      cfg.NATSPort,
		SandboxAddr:   cfg.BotAPIAddr,
		GatewayAddr:   cfg.GatewayAddr,
		CryptoPayAddr: cfg.CryptoPayAddr,
		OutlineAddr:   cfg.OutlineAddr,
		SandboxDir:    filepath.Join(cfg.Dir, "sandbox"),
		OpsPort:       cfg.OpsPort,
		BotHandlers:   cfg.BotHandlers,
		Workers:       true,
		// Every trace kept, for the status page's trace view.
		Traces: true,
		// The database keeps the bot's inbox and the invoices' ids across
		// runs, and may outlive the sandboxes' state (make clean keeps a
		// database it did not create): they must not hand out ids it has
		// seen, as Telegram and Crypto Pay never do.
		FirstUpdateID:  time.Now().UnixMilli(),
		FirstInvoiceID: time.Now().Unix(),
		Env:            scaleEnv,
		Output:         term,
		LogDir:         logDir,
		Log:            log,
	}
	cfg.Real.apply(&sc, os.Environ())
	st, err := localstack.Start(ctx, sc)
	if err != nil {
		if ctx.Err() != nil {
			// Ctrl-C while starting: Start has stopped what it started.
			log.Info().Msg("interrupted while starting; everything stopped")
			return nil
		}
		return err
	}
	// After Start, whose migrate job made the plans table; the bot reads
	// plans on each request, so it offers the demo plan from here on.
	if err := localstack.OfferDemoPlan(ctx, dsn, cfg.TimeScale == ScaleDemo); err != nil {
		return errors.Join(err, st.Close())
	}
	app, err := serveWeb(ctx, log, st, cfg.SandboxAddr)
	if err != nil {
		return errors.Join(err, st.Close())
	}
	if err := in.announce(app.url(st)); err != nil {
		return errors.Join(err, app.Shutdown(), st.Close())
	}
	var welcome bytes.Buffer
	printWelcome(&welcome, st, sc, cfg.TimeScale, app)
	if err := term.welcome(welcome.Bytes(), logDir); err != nil {
		log.Warn().Err(err).Msg("the welcome text is on the console only")
	}
	<-ctx.Done()
	log.Info().Msg("stopping every service…")
	// The console first, so no switch or start races the stop; its
	// service starts in flight end with the stack.
	err = errors.Join(app.Shutdown(), st.Close())
	app.Close()
	return err
}

// ensureDatabase creates the database of dsn when the server has none by
// that name, and returns it then; nil when it existed.
func ensureDatabase(ctx context.Context, dsn string) (*createdDatabase, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL at %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return nil, fmt.Errorf("looking for database %q: %w", name, err)
	}
	if exists {
		return nil, nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		var already interface{ SQLState() string }
		if errors.As(err, &already) && already.SQLState() == "42P04" {
			return nil, nil // created meanwhile by another devstack, whose it is
		}
		return nil, fmt.Errorf("creating database %q: %w", name, err)
	}
	db := &createdDatabase{Host: cfg.Host, Port: cfg.Port, User: cfg.User, Name: name}
	if err := conn.QueryRow(ctx, "SELECT oid FROM pg_database WHERE datname = $1", name).Scan(&db.OID); err != nil {
		return nil, fmt.Errorf("reading the oid of the database %q created: %w", name, err)
	}
	return db, nil
}

func printWelcome(w io.Writer, st *localstack.Stack, sc localstack.Config, scale string, app *webApp) {
	telegram, cryptoPay, panel := mode(sc)
	fmt.Fprintf(w, `
vpnbot is running: gateway %s, NATS %s.
Telegram: %s. Crypto Pay: %s. VPN panel: %s.
Ops endpoints (/livez /readyz /metrics): gateway %s, bot-handler %s, sender %s,
activation %s, payment-watcher %s, reminders %s, trial-notifier %s, expiry-cleanup %s.
`, st.GatewayURL, st.NATSURL, telegram, cryptoPay, panel,
		st.OpsURL(localstack.Gateway, 0), st.OpsURL(localstack.BotHandler, 0), st.OpsURL(localstack.Sender, 0),
		st.OpsURL(localstack.Activation, 0), st.OpsURL(localstack.PaymentWatcher, 0),
		st.OpsURL(localstack.Reminders, 0), st.OpsURL(localstack.TrialNotifier, 0), st.OpsURL(localstack.ExpiryCleanup, 0))
	if app != nil {
		fmt.Fprintf(w, `
Open %s to chat with the bot as a Telegram user (any user id), and
%s/status for every service's health, each VPN panel's (up, latency,
errors, keys, drift repaired), what waits in each stream (read from NATS),
the workers' iterations and the pools, and switches that break things: one
VPN panel of the two down, failing or slow (new users go to the other),
Telegram 429s, Crypto Pay down, killing and restarting a service.
The sandbox Telegram's Bot API is at %s; its control API is on both:
  curl -d '{"text":"/start"}' %s/sandbox/users/42/messages
  curl %s/sandbox/chats/42/messages
Make Telegram answer 429 twice:
  curl -d '{"method":"sendMessage","status":429,"retry_after":3,"times":2}' %s/sandbox/faults
`, app.URL, app.URL, st.Sandbox.URL(), app.URL, app.URL, app.URL)
	} else {
		fmt.Fprintln(w, "\nTalk to your bot in Telegram.")
	}
	if cp := st.CryptoPay; cp != nil {
		fmt.Fprintf(w, `Sandbox Crypto Pay %s: list invoices with curl %s/sandbox/invoices,
  pay one on its pay page or with curl -X POST %s/sandbox/invoices/ID/paid
`, cp.URL(), cp.URL(), cp.URL())
	}
	if len(st.Panels) > 0 {
		fmt.Fprintf(w, "Sandbox Outline panels (VPN_PANELS, location %s, failover on), as their installer prints them:\n", st.Panels[0].Location)
		for _, p := range st.Panels {
			fmt.Fprintf(w, "  %s: %s\n", p.Name, p.ManagerConfig())
		}
	}
	if scale == ScaleDemo {
		fmt.Fprint(w, `
Demo time (DEVSTACK_TIME_SCALE=real turns it off): a trial lasts 15 minutes,
the Demo plan 20 minutes (for $0.50 or 1 Star); a trial and a paid period
are each told 10 and 5 minutes before they end; a key is revoked a minute
after its period.
What to try, as one user:
  1. /start, then Free trial: the key and its QR code come within seconds.
  2. Plans, Demo, then Crypto Pay (pay on its pay page) or Telegram Stars:
     "Payment received", and the 20 minutes are added to the trial's end.
  3. Wait (or break things on the status page meanwhile): reminders come 10
     and 5 minutes before the end; a minute after the end the key is revoked
     and the bot says so. Each step shows within 10 s of falling due.
  4. Plans again: a payment after the revocation starts a new period and key.
`)
	}
	fmt.Fprintf(w, `
This console shows each service's start, every warning and error, and what
users' actions make happen. Every process's whole log is in
%s/<process>.log (make logs follows them); this text is kept in
%[1]s/%s.
Ctrl-C stops everything; state is kept under .data/ and in the database.
`, shortPath(sc.LogDir), welcomeFile)
}
