package pgdb

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/retry"
)

const (
	// DefaultRetryInterval is how often a standby tries the lock, and how long
	// a contender waits after losing its connection or its leadership.
	DefaultRetryInterval = time.Second
	// leaderPingInterval and leaderPingTimeout bound how long a leader keeps
	// leading on a connection that has died: about two seconds.
	leaderPingInterval = time.Second
	leaderPingTimeout  = time.Second
	// electorConnectTimeout and electorQueryTimeout keep a contender from
	// hanging on a black-holed database whatever the connection config says.
	electorConnectTimeout = 10 * time.Second
	electorQueryTimeout   = 5 * time.Second
	// releaseTimeout bounds the unlock and close at the end of a term; if the
	// connection is already gone the server has released the lock anyway.
	releaseTimeout = 2 * time.Second
)

var errConnLost = errors.New("leader connection lost")

// schemaKey is the advisory lock key of the elector's key ($1) in the
// session's schema.
const schemaKey = "$1::bigint # hashtextextended(current_schema(), 0)"

// Elector runs a job on one replica at a time. The replicas contend for a
// session advisory lock on a connection of their own; the one holding it leads,
// the others stand by. Leadership ends when the lead function returns, when the
// dedicated connection dies (the database then releases the lock, so a standby
// takes over within about RetryInterval), or when Run's context is done.
//
// The lock is per schema (the key is mixed with the session's
// current_schema): deployments, or test schemas, sharing one database elect
// their leaders apart.
//
// Because a leader notices a dead connection only at its next ping, two leaders
// may overlap for up to about two seconds after a connection is killed; the
// jobs it guards must still be safe to run twice (the database invariants make
// them so).
type Elector struct {
	// RetryInterval is how often a standby tries to take the lock. Set it
	// before Run; it defaults to DefaultRetryInterval.
	RetryInterval time.Duration

	connCfg *pgx.ConnConfig
	key     int64
	name    string
	log     zerolog.Logger

	leader       atomic.Bool
	leaderGauge  prometheus.Gauge
	leaderGained prometheus.Counter
}

// NewElector returns an elector for the job called name that contends for the
// advisory lock key on dedicated connections made from connCfg (for instance
// pool.Config().ConnConfig.Copy(); the connection budget counts it apart from
// the pool). Give it an application_name to tell it apart in pg_stat_activity.
//
// Its metrics, vpnbot_leader and vpnbot_leader_changes_total labelled with name,
// go on reg (when not nil); electors with different names share them. It
// panics if other metrics with those names are already on reg, as MustRegister
// does.
func NewElector(connCfg *pgx.ConnConfig, lockKey int64, name string, log zerolog.Logger, reg prometheus.Registerer) *Elector {
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_leader",
		Help: "1 while this instance leads the named job, else 0.",
	}, []string{"name"})
	changes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_leader_changes_total",
		Help: "Times this instance became leader of the named job.",
	}, []string{"name"})
	if reg != nil {
		gauge = registerShared(reg, gauge)
		changes = registerShared(reg, changes)
	}
	return &Elector{
		RetryInterval: DefaultRetryInterval,
		connCfg:       connCfg.Copy(),
		key:           lockKey,
		name:          name,
		log:           log.With().Str("election", name).Int64("lock_key", lockKey).Logger(),
		leaderGauge:   gauge.WithLabelValues(name),
		leaderGained:  changes.WithLabelValues(name),
	}
}

// registerShared registers c on reg, or returns the collector of the same
// shape another elector registered there before.
func registerShared[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, err := obs.Register(reg, c)
	if err != nil {
		panic(fmt.Sprintf("registering the leader election metrics: %v", err))
	}
	return c
}

// IsLeader reports whether this instance leads now.
func (e *Elector) IsLeader() bool { return e.leader.Load() }

// Run contends for leadership until ctx is done, calling lead each time this
// instance becomes leader. lead's context is cancelled when leadership is lost
// (dedicated connection dead, or ctx done); lead must then return promptly.
// When lead returns (an error, nil or a panic), the lock is released, the
// connection closed, and the instance contends again after RetryInterval.
// Run returns nil once ctx is done and the lock is released.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	if lead == nil {
		return errors.New("leader election: lead func is nil")
	}
	failing := false // logs a database outage once, not at every retry
	for ctx.Err() == nil {
		connectCtx, cancel := context.WithTimeout(ctx, electorConnectTimeout)
		conn, err := pgx.ConnectConfig(connectCtx, e.connCfg)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			e.log.Warn().Err(err).Msg("leader election: cannot connect, retrying")
			failing = true
		case err == nil:
			failing = false
			if err := e.contend(ctx, conn, lead); err != nil && ctx.Err() == nil {
				e.log.Warn().Err(err).Msg("leader election: standby connection failed, reconnecting")
			}
			// The session ends with the connection, and the lock with it:
			// closing is the release that cannot fail to happen.
			closeConn(conn)
		}
		retry.Sleep(ctx, e.retryInterval())
	}
	return nil
}

func (e *Elector) retryInterval() time.Duration {
	if e.RetryInterval <= 0 {
		return DefaultRetryInterval
	}
	return e.RetryInterval
}

// contend tries the lock on conn until it gets it (then leads once), the
// connection fails, or ctx is done.
func (e *Elector) contend(ctx context.Context, conn *pgx.Conn, lead func(ctx context.Context) error) error {
	loggedStandby := false
	for {
		locked, err := e.tryLock(ctx, conn)
		if err != nil {
			return err
		}
		if locked {
			e.leadTerm(ctx, conn, lead)
			return nil
		}
		if !loggedStandby {
			e.log.Info().Msg("leader election: another instance leads, standing by")
			loggedStandby = true
		}
		if !retry.Sleep(ctx, e.retryInterval()) {
			return nil
		}
	}
}

func (e *Elector) tryLock(ctx context.Context, conn *pgx.Conn) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, electorQueryTimeout)
	defer cancel()
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock("+schemaKey+")", e.key).Scan(&locked); err != nil {
		return false, fmt.Errorf("trying the advisory lock: %w", err)
	}
	return locked, nil
}

// leadTerm runs lead while this instance holds the lock on conn, and always
// releases the lock, whatever ends the term (lead's panic included: it is
// logged, and the instance contends again rather than dying with the job).
func (e *Elector) leadTerm(ctx context.Context, conn *pgx.Conn, lead func(ctx context.Context) error) {
	leadCtx, stop := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	var err error
	panicked := false
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("lead panicked: %v\n%s", r, debug.Stack())
			panicked = true
		}
		cause := context.Cause(leadCtx) // nil when lead returned on its own
		stop(nil)
		<-watched // the watcher no longer uses conn, which is not safe for concurrent use
		// Stop claiming leadership before the lock is free for another.
		e.leader.Store(false)
		e.leaderGauge.Set(0)
		e.release(conn)
		ev := e.log.Info()
		switch {
		case panicked:
			ev = e.log.Error()
		case err != nil || errors.Is(cause, errConnLost):
			ev = e.log.Warn()
		}
		ev.Str("event", obs.EventLeaderLost).Err(err).AnErr("cause", cause).Msg("leadership ended")
	}()

	e.leader.Store(true)
	e.leaderGauge.Set(1)
	e.leaderGained.Inc()
	e.log.Info().Str("event", obs.EventLeaderAcquired).Uint32("backend_pid", conn.PgConn().PID()).
		Msg("leadership acquired")

	go func() {
		defer close(watched)
		e.watch(leadCtx, conn, stop)
	}()
	err = lead(leadCtx)
}

// watch pings the dedicated connection and ends the term when it dies, since
// the database has then released the lock and a standby may already lead.
func (e *Elector) watch(ctx context.Context, conn *pgx.Conn, stop context.CancelCauseFunc) {
	t := time.NewTicker(leaderPingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pingCtx, cancel := context.WithTimeout(ctx, leaderPingTimeout)
		err := conn.Ping(pingCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			// The database has let the lock go with the connection: stop
			// claiming leadership before the job is even told.
			e.leader.Store(false)
			stop(fmt.Errorf("%w: %w", errConnLost, err))
			return
		}
	}
}

func (e *Elector) release(conn *pgx.Conn) {
	if conn.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock("+schemaKey+")", e.key); err != nil {
		// Closing the connection, which follows, releases the lock too.
		e.log.Debug().Err(err).Msg("leader election: unlocking failed; closing the connection releases the lock")
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	_ = conn.Close(ctx) // the socket is closed whatever the error; the session ends with it
}
