package pgdb

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// roleQueryTimeout bounds the scrape's query of the role's connections: a
// pool with no connection to spare skips it rather than hold the scrape.
const roleQueryTimeout = time.Second

// roleConnectionsSQL counts the sessions of the pool's role in the whole
// server, as its CONNECTION LIMIT does: every replica's pool and election
// connections together. Sessions of one's own role are visible to it in
// pg_stat_activity without extra privileges.
const roleConnectionsSQL = `SELECT current_user::text,
	(SELECT count(*) FROM pg_stat_activity WHERE usename = current_user),
	(SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user)`

// poolCollector reads pool.Stat() at scrape time, so the metrics are never
// stale and cost nothing between scrapes; then, through the pool, the
// database's own count of the role's connections and its limit.
type poolCollector struct {
	pool *pgxpool.Pool

	maxConns, acquiredConns, idleConns, totalConns *prometheus.Desc
	acquires, emptyAcquires, acquireWait           *prometheus.Desc
	roleConns, roleLimit                           *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("vpnbot_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		pool:          pool,
		maxConns:      desc("max_conns", "Maximum size of the connection pool (DB_POOL_MAX_SIZE)."),
		acquiredConns: desc("acquired_conns", "Connections currently in use."),
		idleConns:     desc("idle_conns", "Connections open and idle in the pool."),
		totalConns:    desc("total_conns", "Connections open, in use, idle or being opened."),
		acquires:      desc("acquire_total", "Connections acquired from the pool."),
		emptyAcquires: desc("empty_acquire_total", "Acquires that had to wait because no idle connection was ready."),
		acquireWait:   desc("acquire_wait_seconds_total", "Total time spent acquiring connections."),
		roleConns: prometheus.NewDesc("vpnbot_db_role_connections",
			"Sessions of the service's PostgreSQL role in pg_stat_activity: all its replicas' connections, as its CONNECTION LIMIT counts them.",
			[]string{"role"}, nil),
		roleLimit: prometheus.NewDesc("vpnbot_db_role_connection_limit",
			"The CONNECTION LIMIT of the service's PostgreSQL role (pg_roles.rolconnlimit; -1: none).",
			[]string{"role"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.maxConns, c.acquiredConns, c.idleConns, c.totalConns,
		c.acquires, c.emptyAcquires, c.acquireWait, c.roleConns, c.roleLimit,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.maxConns, float64(s.MaxConns()))
	gauge(c.acquiredConns, float64(s.AcquiredConns()))
	gauge(c.idleConns, float64(s.IdleConns()))
	gauge(c.totalConns, float64(s.TotalConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.acquireWait, s.AcquireDuration().Seconds())

	// After the pool's statistics, which this query's acquire must not
	// disturb. A failure (the database down, the pool exhausted) leaves the
	// role's series out of this scrape.
	ctx, cancel := context.WithTimeout(context.Background(), roleQueryTimeout)
	defer cancel()
	var role string
	var conns, limit int64
	if err := c.pool.QueryRow(ctx, roleConnectionsSQL).Scan(&role, &conns, &limit); err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.roleConns, prometheus.GaugeValue, float64(conns), role)
	ch <- prometheus.MustNewConstMetric(c.roleLimit, prometheus.GaugeValue, float64(limit), role)
}
