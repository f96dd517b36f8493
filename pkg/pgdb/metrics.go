package pgdb

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reads pool.Stat() at scrape time, so the metrics are never
// stale and cost nothing between scrapes.
type poolCollector struct {
	pool *pgxpool.Pool

	maxConns, acquiredConns, idleConns, totalConns *prometheus.Desc
	acquires, emptyAcquires, acquireWait           *prometheus.Desc
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
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.maxConns, c.acquiredConns, c.idleConns, c.totalConns,
		c.acquires, c.emptyAcquires, c.acquireWait,
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
}
