package pgdb

import (
	"context"
	"fmt"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
)

const (
	// connectTimeout bounds a connection attempt when the DSN sets none, so a
	// black-holed database fails requests instead of hanging them.
	connectTimeout = 5 * time.Second
	// pingTimeout keeps a readiness check short even when the caller's
	// context has no deadline.
	pingTimeout = 2 * time.Second
)

// Open builds the service's connection pool from cfg: at most cfg.PoolMaxSize
// connections, each named service in pg_stat_activity (unless the DSN names
// them itself). It logs DB_POOL_MAX_SIZE with the redacted DSN and registers the
// pool's metrics on reg (when reg is not nil). A connection the database
// refuses at the role's CONNECTION LIMIT is logged as DB_CONNECTION_LIMIT and
// counted; the Acquire that wanted it fails at once.
//
// Open does not connect: a database that is down at start makes the service
// not ready, not failed. Only a DSN that does not parse, or metrics that clash
// on reg, are errors.
func Open(ctx context.Context, cfg config.DB, service string, log zerolog.Logger, reg prometheus.Registerer, opts ...Option) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		// pgx masks the password in its parse errors on a best-effort basis
		// only, so the error names the setting rather than quoting it.
		return nil, fmt.Errorf("parsing DATABASE_URL %s: invalid DSN", config.RedactURL(cfg.DatabaseURL))
	}
	pcfg.MaxConns = cfg.PoolMaxSize
	if pcfg.ConnConfig.RuntimeParams["application_name"] == "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = service
	}
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	for _, opt := range opts {
		opt(pcfg)
	}
	// The refusals' tracer goes beside any an option set (WithTracing's).
	limits := newLimitTracer(pcfg.ConnConfig.User, log)
	if pcfg.ConnConfig.Tracer == nil {
		pcfg.ConnConfig.Tracer = limits
	} else {
		pcfg.ConnConfig.Tracer = multitracer.New(pcfg.ConnConfig.Tracer, limits)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("creating the connection pool: %w", err)
	}
	log.Info().Str("event", obs.EventDBPoolMaxSize).Int32("value", pcfg.MaxConns).
		Str("dsn", config.RedactURL(cfg.DatabaseURL)).
		Msgf("DB_POOL_MAX_SIZE=%d", pcfg.MaxConns)
	if reg != nil {
		for _, c := range []prometheus.Collector{newPoolCollector(pool), limits.refusals} {
			if err := reg.Register(c); err != nil {
				pool.Close()
				return nil, fmt.Errorf("registering the pool metrics: %w", err)
			}
		}
	}
	return pool, nil
}

// Option adjusts the pool Open builds.
type Option func(*pgxpool.Config)

// WithTracing makes each query, batch, prepare and connect a span
// (github.com/exaring/otelpgx), with the SQL but never its arguments. Only a
// query whose ctx holds a recording span gets one, so readiness pings and
// the elector's keep-alives make no traces of their own. The service
// skeleton sets it when tracing is on; without it the pool has no tracer
// at all.
func WithTracing() Option {
	return func(c *pgxpool.Config) {
		c.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithDisableAcquireTracer())
	}
}

// Ping is a readiness check: it fails while the pool cannot run one short
// query. The bot-handler also uses it as the gate that stops it fetching
// updates during an outage.
func Ping(pool *pgxpool.Pool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, pingTimeout)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			return fmt.Errorf("pinging PostgreSQL: %w", err)
		}
		return nil
	}
}
