package prune

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/worker"
)

// EventPruned is the log line of one table's pruning pass, with the rows
// deleted, the batches, the cutoff and whether the pass got to the end.
const EventPruned = "PRUNED"

// The pruned tables, as the metric's table label and in the Result items
// ("pruned_<table>").
const (
	TableSentMessages      = "sent_messages"
	TableProcessedUpdates  = "processed_updates"
	TableNotificationsSent = "notifications_sent"
)

// MinRetention is the shortest retention allowed: longer than the DLQ keeps
// a dead letter that on-call may replay (14 days), and than any worker looks
// back at a period that ended.
const MinRetention = 15 * 24 * time.Hour

// Defaults of the Config fields left zero.
const (
	DefaultRetention = 30 * 24 * time.Hour
	DefaultBatchSize = 1000
	DefaultEvery     = time.Hour
	DefaultBudget    = 30 * time.Second
)

// Config tunes a Pruner. Zero fields take the defaults.
type Config struct {
	// SentMessages, ProcessedUpdates and NotificationsSent are the
	// retentions: how old a sent-log or inbox row, or how long ago its
	// period was revoked for a notifications_sent row, before it goes.
	SentMessages      time.Duration
	ProcessedUpdates  time.Duration
	NotificationsSent time.Duration
	// BatchSize is how many rows one statement deletes at most.
	BatchSize int
	// Every is how often a replica runs a pass.
	Every time.Duration
	// Budget is how long a pass goes on starting batches; the rest waits
	// for the next iteration.
	Budget time.Duration
	// NowFunc is the clock (default time.Now).
	NowFunc func() time.Time
}

func (c Config) withDefaults() Config {
	for _, r := range []*time.Duration{&c.SentMessages, &c.ProcessedUpdates, &c.NotificationsSent} {
		if *r <= 0 {
			*r = DefaultRetention
		}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Every <= 0 {
		c.Every = DefaultEvery
	}
	if c.Budget <= 0 {
		c.Budget = DefaultBudget
	}
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	return c
}

// Pruner deletes what has outlived its retention. Make it with New; Prune
// runs from the worker's iteration.
type Pruner struct {
	cfg  Config
	pool *pgxpool.Pool
	log  zerolog.Logger
	rows *prometheus.CounterVec

	// running keeps a pass from starting beside one that an abandoned
	// iteration is still running.
	running sync.Mutex
	// lastDone is when the last complete pass started; zero before one.
	lastDone time.Time
	// revokedFrom is how far back notifications_sent still needs looking
	// at: the periods revoked before it have no rows left, and none get
	// new ones, so a pass does not read the whole history again.
	revokedFrom time.Time
}

// New returns a Pruner over pool, its metric registered on reg (nil: not
// exported).
func New(cfg Config, pool *pgxpool.Pool, log zerolog.Logger, reg prometheus.Registerer) (*Pruner, error) {
	if pool == nil {
		return nil, errors.New("prune: a pool is required")
	}
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_pruned_rows_total",
		Help: "Rows deleted by the pruning passes, by table, once past their retention.",
	}, []string{"table"})
	if reg != nil {
		if err := reg.Register(rows); err != nil {
			return nil, fmt.Errorf("registering the pruning metric: %w", err)
		}
	}
	for _, t := range []string{TableSentMessages, TableProcessedUpdates, TableNotificationsSent} {
		rows.WithLabelValues(t) // shown as 0 before the first pass
	}
	return &Pruner{cfg: cfg.withDefaults(), pool: pool, log: log, rows: rows}, nil
}

// Prune runs a pass when one is due (Every since the last complete pass,
// or the last one ran out of Budget or failed), adding the rows deleted to
// res as pruned_<table>. A table whose pass fails does not stop the others.
func (p *Pruner) Prune(ctx context.Context, res worker.Result) error {
	if !p.running.TryLock() {
		return nil
	}
	defer p.running.Unlock()
	start := p.cfg.NowFunc()
	if !p.lastDone.IsZero() && start.Sub(p.lastDone) < p.cfg.Every {
		return nil
	}
	deadline := start.Add(p.cfg.Budget)
	var errs []error
	complete := true
	for _, t := range p.tables(start) {
		done, err := p.pruneTable(ctx, t, deadline, res)
		complete = complete && done && err == nil
		errs = append(errs, err)
	}
	if complete {
		p.lastDone = start
	}
	return errors.Join(errs...)
}

// table is one table's pass: its cutoff, and its batch, which deletes up
// to limit rows older than the cutoff and says how many it deleted.
type table struct {
	name   string
	cutoff time.Time
	batch  func(ctx context.Context, cutoff time.Time, limit int) (int, error)
	// finished, when set, is called once the table has nothing left before
	// the cutoff.
	finished func(cutoff time.Time)
}

func (p *Pruner) tables(now time.Time) []table {
	return []table{
		{name: TableSentMessages, cutoff: now.Add(-p.cfg.SentMessages), batch: p.sqlBatch(sentMessagesSQL)},
		{name: TableProcessedUpdates, cutoff: now.Add(-p.cfg.ProcessedUpdates), batch: p.sqlBatch(processedUpdatesSQL)},
		{name: TableNotificationsSent, cutoff: now.Add(-p.cfg.NotificationsSent), batch: p.notificationsBatch,
			finished: func(cutoff time.Time) { p.revokedFrom = cutoff }},
	}
}

// pruneTable deletes t's rows older than its cutoff a batch at a time,
// until a batch comes back short (done) or the deadline passes.
func (p *Pruner) pruneTable(ctx context.Context, t table, deadline time.Time, res worker.Result) (done bool, err error) {
	start := time.Now()
	total, batches := 0, 0
	defer func() {
		if total > 0 {
			res["pruned_"+t.name] += total
			p.rows.WithLabelValues(t.name).Add(float64(total))
		}
		ev := p.log.Info().Ctx(ctx)
		if err != nil {
			ev = p.log.Warn().Ctx(ctx).Err(err)
		}
		ev.Str("event", EventPruned).Str("table", t.name).Int("rows", total).Int("batches", batches).
			Time("cutoff", t.cutoff).Bool("complete", done).Int64("duration_ms", time.Since(start).Milliseconds()).
			Msg("pruned rows past their retention")
	}()
	// At least one batch per table, however long the tables before took.
	for {
		n, err := t.batch(ctx, t.cutoff, p.cfg.BatchSize)
		if err != nil {
			return false, fmt.Errorf("pruning %s: %w", t.name, err)
		}
		total += n
		batches++
		if n < p.cfg.BatchSize {
			if t.finished != nil {
				t.finished(t.cutoff)
			}
			return true, nil
		}
		if p.cfg.NowFunc().After(deadline) {
			return false, nil
		}
	}
}

// sentMessagesSQL and processedUpdatesSQL delete up to $2 rows older than
// $1, oldest first, found through the table's time index and deleted by
// their row address (= ANY(ARRAY(…)) makes that a TID scan, where IN (…)
// would hash-join the whole table); rows another replica is deleting are
// skipped, not waited for.
const (
	sentMessagesSQL = `
DELETE FROM sent_messages WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM sent_messages WHERE sent_at < $1
	ORDER BY sent_at LIMIT $2
	FOR UPDATE SKIP LOCKED))`
	processedUpdatesSQL = `
DELETE FROM processed_updates WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM processed_updates WHERE handled_at < $1
	ORDER BY handled_at LIMIT $2
	FOR UPDATE SKIP LOCKED))`
)

func (p *Pruner) sqlBatch(sql string) func(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return func(ctx context.Context, cutoff time.Time, limit int) (int, error) {
		tag, err := p.pool.Exec(ctx, sql, cutoff, limit)
		if err != nil {
			return 0, err
		}
		return int(tag.RowsAffected()), nil
	}
}

// notificationsSentSQL deletes up to $3 rows of periods revoked in
// [$1, $2), the earliest revoked first: the periods are found in order
// through subscriptions_recently_revoked, their rows through the primary
// key, and deleted by row address. It returns the rows deleted and the
// latest revocation among them, where the next batch starts (inclusive: a
// period whose rows the limit cut through is taken up again).
const notificationsSentSQL = `
WITH doomed AS MATERIALIZED (
	SELECT n.ctid AS row, s.revoked_at
	FROM subscriptions s
	JOIN notifications_sent n ON n.subscription_id = s.id
	WHERE s.status = 'revoked' AND s.revoked_at >= $1 AND s.revoked_at < $2
	ORDER BY s.revoked_at
	LIMIT $3
	FOR UPDATE OF n SKIP LOCKED
), gone AS (
	DELETE FROM notifications_sent WHERE ctid = ANY(ARRAY(SELECT row FROM doomed))
	RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT max(revoked_at) FROM doomed)`

// notificationsBatch deletes a batch of notifications_sent rows, starting
// where the last batch (or the last complete pass) ended.
func (p *Pruner) notificationsBatch(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	var (
		n      int
		latest *time.Time
	)
	if err := p.pool.QueryRow(ctx, notificationsSentSQL, p.revokedFrom, cutoff, limit).Scan(&n, &latest); err != nil {
		return 0, err
	}
	if latest != nil {
		p.revokedFrom = *latest
	}
	return n, nil
}
