package worker_test

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// replica is one payment-watcher process: a singleton worker with its own
// elector connection, named appName in pg_stat_activity.
type replica struct {
	*running
	appName    string
	iterations atomic.Int32
}

func startReplica(t *testing.T, db *pgdbtest.DB, key int64, appName string) *replica {
	t.Helper()
	rep := &replica{appName: appName}
	connCfg := db.Pool.Config().ConnConfig.Copy()
	connCfg.RuntimeParams["application_name"] = appName
	logs := &obstest.LogBuffer{}
	elector := pgdb.NewElector(connCfg, key, "payment-watcher", obstest.NewLogger(logs), nil)
	elector.RetryInterval = 100 * time.Millisecond
	c := cfg("payment-watcher", 50*time.Millisecond)
	c.Singleton = true
	c.Elector = elector
	rep.running = start(t, c, func(context.Context) (worker.Result, error) {
		rep.iterations.Add(1)
		return worker.Result{"applied": 0}, nil
	})
	return rep
}

func (rep *replica) leaderGauge(t *testing.T) float64 {
	t.Helper()
	return rep.metric(t, "vpnbot_worker_leader", map[string]string{"worker": "payment-watcher"})
}

func TestSingletonIteratesOnlyOnTheLeaderAndFailsOver(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	key := rand.Int64()
	a := startReplica(t, db, key, "worker-a-"+db.Schema)
	b := startReplica(t, db, key, "worker-b-"+db.Schema)

	require.Eventually(t, func() bool { return a.iterations.Load()+b.iterations.Load() >= 3 }, waitFor, poll)
	leader, standby := a, b
	if b.iterations.Load() > 0 {
		leader, standby = b, a
	}
	require.Never(t, func() bool { return standby.iterations.Load() > 0 }, 500*time.Millisecond, poll,
		"both replicas iterate")
	require.EqualValues(t, 1, leader.leaderGauge(t))
	require.EqualValues(t, 0, standby.leaderGauge(t))
	require.NoError(t, leader.w.Live(t.Context()))
	require.NoError(t, standby.w.Live(t.Context()), "a standby is live while it waits")
	standby.w.Wake()
	require.Never(t, func() bool { return standby.iterations.Load() > 0 }, 200*time.Millisecond, poll,
		"a wake made the standby iterate")

	// The leader's backend dies: the standby takes over within seconds.
	var pid int32
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		"SELECT pid FROM pg_stat_activity WHERE application_name = $1", leader.appName).Scan(&pid))
	var terminated bool
	require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT pg_terminate_backend($1)", pid).Scan(&terminated))
	require.True(t, terminated)
	require.Eventually(t, func() bool { return standby.iterations.Load() > 0 }, waitFor, poll,
		"the standby did not take over")
	require.Eventually(t, func() bool { return leader.leaderGauge(t) == 0 }, waitFor, poll)
	require.EqualValues(t, 1, standby.leaderGauge(t))
	stopped := leader.iterations.Load()
	require.Never(t, func() bool { return leader.iterations.Load() > stopped }, 300*time.Millisecond, poll,
		"the old leader still iterates")

	a.stop(t)
	b.stop(t)
	for _, rep := range []*replica{a, b} {
		starts := len(rep.logs.Events(t, worker.EventIterationStart))
		require.Len(t, rep.ends(t), starts, "%s: an ITERATION_START without its END", rep.appName)
	}
}

// termElector leads at once, in a term the test ends.
type termElector struct{ end chan struct{} }

func (e termElector) Run(ctx context.Context, lead func(context.Context) error) error {
	term, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.end:
			cancel()
		case <-term.Done():
		}
	}()
	return lead(term)
}

// TestLostLeadershipCancelsTheIterationAtOnce: the lock went with the
// leader's connection, so another replica may lead already; the running
// iteration must not go on for its stop grace.
func TestLostLeadershipCancelsTheIterationAtOnce(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	cancelled := make(chan struct{})
	elector := termElector{end: make(chan struct{})}
	c := cfg("payment-watcher", time.Hour)
	c.Singleton = true
	c.Elector = elector
	c.StopGrace = time.Hour
	c.IterationTimeout = time.Hour
	r := start(t, c, func(ctx context.Context) (worker.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		close(cancelled)
		return worker.Result{"applied": 0}, ctx.Err()
	})
	receive(t, started, "the iteration")
	close(elector.end)
	select {
	case <-cancelled:
	case <-time.After(waitFor):
		t.Fatal("the iteration went on after leadership was lost")
	}
	ends := r.waitEnds(t, 1)
	require.Equal(t, "canceled", ends[0]["outcome"])
	require.NotEmpty(t, r.logs.Lines("leadership lost; cancelling the iteration"))
	r.stop(t)
}
