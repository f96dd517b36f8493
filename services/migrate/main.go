// Command migrate is the job that applies the database schema migrations
// before the services start, then brings the services' PostgreSQL roles up
// to date (schema.Roles: each service's CONNECTION LIMIT and table grants).
// It exits 0 once the schema and the roles are up to date, 1 on any failure,
// so an orchestrator can gate the rollout on it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"github.com/vpnbot/vpnbot/pkg/buildinfo"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/schema"
)

const service = "migrate"

// Config is the job's configuration. OPS_ADDR and NATS_URL are read with the
// rest of config.Base but unused: the job serves nothing and sends nothing.
type Config struct {
	config.Base
	config.DB
	// Roles makes the job create and update the services' roles after
	// migrating. It needs CREATEROLE; turn it off where roles are managed
	// by other means.
	Roles bool `env:"DB_ROLES"`
	// RolePrefix starts the roles' names: vpnbot_bot_handler. Roles belong
	// to the whole cluster, so two deployments sharing one need prefixes of
	// their own.
	RolePrefix string `env:"DB_ROLE_PREFIX"`
}

// rolePrefix is what a role name may start with: lowercase, so that it
// needs no quoting in a DSN or psql, and short enough for every service's
// role to fit PostgreSQL's 63 bytes.
var rolePrefix = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	if c.Roles && !rolePrefix.MatchString(c.RolePrefix) {
		return fmt.Errorf("DB_ROLE_PREFIX=%q: must be a lowercase letter, then up to 40 lowercase letters, digits or underscores", c.RolePrefix)
	}
	return c.DB.Validate()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(1)
	}
}

func run(ctx context.Context) (err error) {
	cfg, err := config.Load(Config{Base: config.NewBase(""), DB: config.NewDB(1), Roles: true, RolePrefix: schema.DefaultRolePrefix})
	if err != nil {
		return err
	}
	log, err := obs.NewLogger(nil, service, cfg.Instance, cfg.LogLevel)
	if err != nil {
		return err
	}
	build := buildinfo.Get()
	log.Info().Str("event", obs.EventServiceStart).Str("version", build.Version).Str("revision", build.Revision).
		Str("go_version", build.GoVersion).Fields(config.Fields(cfg)).Msg("migrate starting")
	defer func() {
		if err != nil {
			log.Error().Str("event", obs.EventServiceStop).Err(err).Msg("migrate failed")
			return
		}
		log.Info().Str("event", obs.EventServiceStop).Msg("migrate done: schema and roles up to date")
	}()

	pool, err := pgdb.Open(ctx, cfg.DB, service, log, nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := schema.Migrate(ctx, pool, log); err != nil {
		return err
	}
	if !cfg.Roles {
		return nil
	}
	if err := schema.ApplyRoles(ctx, pool, cfg.RolePrefix, log); err != nil {
		return fmt.Errorf("applying the service roles: %w", err)
	}
	return nil
}
