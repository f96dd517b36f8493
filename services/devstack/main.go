// Command devstack is `make run`: the whole system on one machine — an
// embedded NATS with JetStream kept under .data/, the local PostgreSQL, the
// migrations, every service as its own process with its output prefixed by its
// name, and the sandbox Telegram that a person (or curl) talks to.
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

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/procs"
	"github.com/vpnbot/vpnbot/pkg/stack"
)

// Config is the devstack's configuration. The services' own settings can be
// overridden too: the devstack passes its environment on to them.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" secret:"dsn"`
	Dir         string `env:"DEVSTACK_DIR"`
	SandboxAddr string `env:"SANDBOX_ADDR"`
	GatewayAddr string `env:"GATEWAY_ADDR"`
	NATSPort    int    `env:"DEVSTACK_NATS_PORT"`
	BotHandlers int    `env:"BOT_HANDLERS"`
	LogLevel    string `env:"LOG_LEVEL"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := procs.Root(wd)
	if err != nil {
		return fmt.Errorf("run devstack from the repository (make run): %w", err)
	}
	cfg, err := config.Load(Config{
		DatabaseURL: "postgres://postgres@127.0.0.1:5432/vpnbot?sslmode=disable",
		Dir:         filepath.Join(root, ".data"),
		SandboxAddr: "127.0.0.1:8080",
		GatewayAddr: "127.0.0.1:8081",
		// Not 4222: a machine's own (possibly older) NATS often sits there.
		NATSPort:    4233,
		BotHandlers: 1,
		LogLevel:    "info",
	})
	if err != nil {
		return err
	}
	log, err := obs.NewLogger(os.Stderr, "devstack", "local", cfg.LogLevel)
	if err != nil {
		return err
	}
	log.Info().Str("event", obs.EventConfig).Fields(config.Fields(cfg)).Msg("configuration")
	if err := ensureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return err
	}

	log.Info().Msg("building the services and starting the system…")
	st, err := stack.Start(ctx, stack.Config{
		Dir:         cfg.Dir,
		Root:        root,
		DatabaseURL: cfg.DatabaseURL,
		NATSPort:    cfg.NATSPort,
		SandboxAddr: cfg.SandboxAddr,
		GatewayAddr: cfg.GatewayAddr,
		BotHandlers: cfg.BotHandlers,
		Workers:     true,
		// The database keeps the bot's inbox across runs; the sandbox must
		// not hand out update ids it already used, as Telegram never does.
		FirstUpdateID: time.Now().UnixMilli(),
		Output:        os.Stdout,
		Log:           log,
	})
	if err != nil {
		return err
	}
	printWelcome(st)
	<-ctx.Done()
	log.Info().Msg("stopping every service…")
	return st.Close()
}

// ensureDatabase creates the database of dsn when the server has none by that name.
func ensureDatabase(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL at %s:%d (scripts/ensure-postgres.sh starts or installs one): %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("looking for database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		var already interface{ SQLState() string }
		if errors.As(err, &already) && already.SQLState() == "42P04" {
			return nil // created meanwhile by another devstack
		}
		return fmt.Errorf("creating database %q: %w", name, err)
	}
	return nil
}

func printWelcome(st *stack.Stack) {
	sb, cp := st.Sandbox.URL(), st.CryptoPay.URL()
	fmt.Printf(`
vpnbot is running: gateway %s, sandbox Telegram %s, NATS %s.
Ops endpoints (/livez /readyz /metrics): gateway %s, bot-handler %s, sender %s,
activation %s, payment-watcher %s, reminders %s, trial-notifier %s, expiry-cleanup %s.
Sandbox Crypto Pay %s: list invoices with curl %s/sandbox/invoices,
  pay one on its pay page or with curl -X POST %s/sandbox/invoices/ID/paid
Sandbox Outline panel, as its installer prints it: %s

Act as Telegram user 42:
  curl -d '{"text":"/start"}' %s/sandbox/users/42/messages
  curl %s/sandbox/chats/42/messages
Make Telegram answer 429 twice:
  curl -d '{"method":"sendMessage","status":429,"retry_after":3,"times":2}' %s/sandbox/faults

Ctrl-C stops everything; state is kept under .data/ and in the database.
`, st.GatewayURL, sb, st.NATSURL, st.OpsURL(stack.Gateway, 0), st.OpsURL(stack.BotHandler, 0), st.OpsURL(stack.Sender, 0),
		st.OpsURL(stack.Activation, 0), st.OpsURL(stack.PaymentWatcher, 0),
		st.OpsURL(stack.Reminders, 0), st.OpsURL(stack.TrialNotifier, 0), st.OpsURL(stack.ExpiryCleanup, 0),
		cp, cp, cp, st.Outline.ManagerConfig(), sb, sb, sb)
}
