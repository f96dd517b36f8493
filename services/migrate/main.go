// Command migrate is the job that applies the database schema migrations
// before the services start. It exits 0 once the schema is up to date, 1 on
// any failure, so an orchestrator can gate the rollout on it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error { return c.DB.Validate() }

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
	cfg, err := config.Load(Config{Base: config.NewBase(""), DB: config.NewDB(1)})
	if err != nil {
		return err
	}
	log, err := obs.NewLogger(nil, service, cfg.Instance, cfg.LogLevel)
	if err != nil {
		return err
	}
	log.Info().Str("event", obs.EventServiceStart).Fields(config.Fields(cfg)).Msg("migrate starting")
	defer func() {
		if err != nil {
			log.Error().Str("event", obs.EventServiceStop).Err(err).Msg("migrate failed")
			return
		}
		log.Info().Str("event", obs.EventServiceStop).Msg("migrate done: schema up to date")
	}()

	pool, err := pgdb.Open(ctx, cfg.DB, service, log, nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	return schema.Migrate(ctx, pool, log)
}
