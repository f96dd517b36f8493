// Command soak is `make soak`: the whole system as `make run` starts it, at
// the demo time scale, with two replicas of every service a deployment runs
// twice (the gateway once: it would need a load balancer), driven for
// SOAK_DURATION (default 10 minutes) by simulated users while a fault
// schedule breaks it; then it checks every invariant from the database, the
// sandboxes' own records, the streams and the services' logs, prints one
// markdown table, and exits 1 when an invariant broke, naming the update,
// invoice or period.
//
// The run, in order (each its own file):
//   - schedule.go plans the faults from SOAK_SEED (printed; the same seed and
//     duration give the same schedule): every minute a SIGKILL of a random
//     replica of a random service, started again seconds later; once each,
//     NATS stopped and started (with SOAK_NATS_NODES=3 the broker is a
//     cluster, and one node of it is), PostgreSQL cut for 20 s (a netcut proxy
//     stands between the services and the database), one of the two VPN
//     panels failing for a minute (failover places new users on the other)
//     and Telegram answering 429 for half a minute, each in its own slot of
//     the run. faults.go plays it and plays the orchestrator too:
//     a process that exits on its own is started again, and counted.
//   - driver.go is the users: existing customers whose trials and paid
//     periods fall due during the run (seeded through pkg/shop with their
//     clock set back), who renew before expiry, in the grace minute or after
//     revocation, or let it lapse; new users who /start, take the trial,
//     look at their subscription and buy the demo plan with Crypto Pay (paid
//     on its pay page, announced by webhook, or with the webhook lost so that
//     only the payment-watcher's poll finds it) or Telegram Stars; and an
//     admin who broadcasts. The workers' reminders, trial notices, expiry
//     notices and revocations follow by themselves.
//   - sample.go watches both panels while it runs: a key still there past
//     its period's expiry and grace, a user with two working accounts.
//   - After the drive, the system drains (no faults, no new actions) until
//     nothing is in flight; gather.go reads what happened and check.go
//     judges it; table.go prints it.
//
// Everything listens on 127.0.0.1 and the run is bounded: the drive lasts
// SOAK_DURATION, the drain at most drainTimeout.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/netcut"
	"github.com/vpnbot/vpnbot/pkg/obs"
)

// Config is the soak's configuration, from the environment.
type Config struct {
	// Duration is how long users drive the system while faults play.
	Duration time.Duration `env:"SOAK_DURATION"`
	// Seed makes the fault schedule and the users' choices; 0 takes the
	// clock's, printed so that a run can be repeated.
	Seed int64 `env:"SOAK_SEED"`
	// ServerURL is the PostgreSQL server on which the soak makes its own
	// database (soakDatabase), dropped and made again at each run and kept
	// afterwards for a look.
	ServerURL string `env:"SOAK_DATABASE_URL" secret:"dsn"`
	// NATSNodes runs NATS as a cluster of that many nodes (1: one server);
	// the schedule's NATS fault then stops one node instead of the broker.
	NATSNodes int `env:"SOAK_NATS_NODES"`
	// Dir holds the binaries, NATS' store and the services' log (default: a
	// temporary folder, removed unless the soak fails).
	Dir      string `env:"SOAK_DIR"`
	LogLevel string `env:"LOG_LEVEL"`
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	if c.Duration < time.Minute {
		return fmt.Errorf("SOAK_DURATION=%s: at least 1m, so that the schedule has room for its faults", c.Duration)
	}
	if c.NATSNodes < 1 {
		return fmt.Errorf("SOAK_NATS_NODES=%d: at least 1", c.NATSNodes)
	}
	return nil
}

// soakDatabase is the database the soak makes on the server.
const soakDatabase = "vpnbot_soak"

// errBroken is the run's error when an invariant broke: the table says which.
var errBroken = errors.New("invariants broken")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) (err error) {
	cfg, err := config.Load(Config{
		Duration:  10 * time.Minute,
		NATSNodes: 1,
		ServerURL: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		LogLevel:  "info",
	})
	if err != nil {
		return err
	}
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano() % 1_000_000
	}
	log, err := obs.NewLogger(os.Stderr, "soak", "local", cfg.LogLevel)
	if err != nil {
		return err
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vpnbot-soak-"); err != nil {
			return err
		}
		defer func() {
			if err == nil {
				err = os.RemoveAll(dir)
			}
		}()
	}
	logPath := filepath.Join(dir, "services.log")
	services, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer services.Close()

	fmt.Printf("soak: %s, seed %d (SOAK_SEED=%d repeats the schedule); services' log %s\n", cfg.Duration, cfg.Seed, cfg.Seed, logPath)
	direct, err := freshDatabase(ctx, cfg.ServerURL)
	if err != nil {
		return err
	}
	dbcfg, err := pgx.ParseConfig(direct)
	if err != nil {
		return err
	}
	proxy, err := netcut.Listen(fmt.Sprintf("%s:%d", dbcfg.Host, dbcfg.Port))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, proxy.Close()) }()
	proxied := fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", dbcfg.User, proxy.Addr(), soakDatabase)

	// The stack's and the sandboxes' own logs go beside the services'.
	stackLog, err := obs.NewLogger(services, "localstack", "local", cfg.LogLevel)
	if err != nil {
		return err
	}
	fmt.Println("soak: building the services and starting the system…")
	st, err := localstack.Start(ctx, localstack.Config{
		Dir:         dir,
		DatabaseURL: proxied,
		Workers:     true,
		NATSNodes:   cfg.NATSNodes,
		BotHandlers: 2,
		Replicas:    replicas,
		AdminIDs:    []int64{adminID},
		Env:         serviceEnv(),
		Output:      services,
		Log:         stackLog,
	})
	if err != nil {
		return fmt.Errorf("starting the system: %w", err)
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	if err := localstack.OfferDemoPlan(ctx, direct, true); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, direct)
	if err != nil {
		return err
	}
	defer pool.Close()

	recs, err := soak(ctx, cfg, st, proxy, pool, logPath, log)
	if err != nil {
		return err
	}
	verdict := judge(recs)
	printTable(os.Stdout, recs, verdict)
	if len(verdict.Violations) > 0 {
		fmt.Printf("\nsoak: the database %s and the services' log %s are kept for a look\n", soakDatabase, logPath)
		return fmt.Errorf("%w: %d", errBroken, len(verdict.Violations))
	}
	return nil
}

// replicas are the processes the soak runs of each service beside the two
// bot-handlers: two of every one a deployment runs twice
// (deploy/k8s/base).
var replicas = map[string]int{
	localstack.Sender:         2,
	localstack.Activation:     2,
	localstack.PaymentWatcher: 2,
	localstack.Reminders:      2,
	localstack.TrialNotifier:  2,
	localstack.ExpiryCleanup:  2,
}

// watchdogAfter stands in for the orchestrator's liveness probe
// (deploy/k8s/base: every 10 s, 3 failures): a service whose /livez fails
// that long exits, and the soak counts the exit as an unscheduled restart.
const watchdogAfter = 30 * time.Second

// serviceEnv is the services' environment: make run's demo time scale, the
// watchdog in the orchestrator's place, and the age past which a button
// press is skipped, which the checks allow for.
func serviceEnv() []string {
	return append(localstack.DemoEnv(), "WATCHDOG_EXIT_AFTER="+watchdogAfter.String(), "CALLBACK_MAX_AGE="+callbackMaxAge.String())
}

// freshDatabase drops the soak's database on the server at serverURL, left
// by the last run, makes it again and returns its DSN.
func freshDatabase(ctx context.Context, serverURL string) (string, error) {
	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		return "", fmt.Errorf("SOAK_DATABASE_URL: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("connecting to PostgreSQL at %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(ctx)
	name := pgx.Identifier{soakDatabase}.Sanitize()
	for _, sql := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return "", fmt.Errorf("%s: %w", sql, err)
		}
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, soakDatabase), nil
}
