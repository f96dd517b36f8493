package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// waitFor bounds every wait on the worker; slack is how late past a
// deadline the runtime may act on a loaded two-core machine under -race.
const (
	waitFor = 5 * time.Second
	slack   = time.Second
	poll    = 5 * time.Millisecond
)

// running is one worker under test with what on-call would see of it.
type running struct {
	w      *worker.Worker
	logs   *obstest.LogBuffer
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg worker.Config, fn worker.IterationFunc) *running {
	t.Helper()
	r := &running{logs: &obstest.LogBuffer{}, reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	w, err := worker.New(cfg, fn, obstest.NewLogger(r.logs), r.reg)
	require.NoError(t, err)
	r.w = w
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run's context and waits for Run to return, reporting how long that took.
func (r *running) stop(t *testing.T) time.Duration {
	t.Helper()
	begin := time.Now()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			require.NoError(t, err)
			close(r.done)
		}
	case <-time.After(waitFor):
		t.Fatal("Run did not return after its context was cancelled")
	}
	return time.Since(begin)
}

func (r *running) ends(t *testing.T) []map[string]any {
	t.Helper()
	return r.logs.Events(t, worker.EventIterationEnd)
}

func (r *running) waitEnds(t *testing.T, n int) []map[string]any {
	t.Helper()
	require.Eventually(t, func() bool { return len(r.ends(t)) >= n }, waitFor, poll, "ITERATION_END #%d not logged", n)
	return r.ends(t)
}

func (r *running) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := obstest.Metric(t, r.reg, name, labels)
	require.True(t, ok, "metric %s%v not found", name, labels)
	return v
}

func cfg(name string, interval time.Duration) worker.Config {
	return worker.Config{Name: name, Interval: interval, IterationTimeout: 2 * time.Second, StopGrace: time.Second}
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func TestIterationsRunEveryInterval(t *testing.T) {
	t.Parallel()
	const interval = 50 * time.Millisecond
	var mu sync.Mutex
	var starts []time.Time
	r := start(t, cfg("reminders", interval), func(context.Context) (worker.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		starts = append(starts, time.Now())
		return worker.Result{"sent": 1}, nil
	})
	r.waitEnds(t, 4)
	r.stop(t)

	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(starts); i++ {
		require.GreaterOrEqual(t, starts[i].Sub(starts[i-1]), interval-10*time.Millisecond,
			"iteration %d started too soon after the previous one", i+1)
	}
	require.Len(t, r.logs.Events(t, worker.EventIterationStart), len(starts))
	require.EqualValues(t, len(starts), r.metric(t, "vpnbot_worker_items_total", map[string]string{"worker": "reminders", "item": "sent"}))
}

func TestWakeRunsAnIterationAndWakesCoalesce(t *testing.T) {
	t.Parallel()
	var count atomic.Int32
	started := make(chan int32, 10)
	release := make(chan struct{})
	r := start(t, cfg("activation", time.Hour), func(context.Context) (worker.Result, error) {
		n := count.Add(1)
		started <- n
		if n == 2 {
			<-release
		}
		return nil, nil
	})
	require.EqualValues(t, 1, receive(t, started, "the first iteration at start"))
	r.waitEnds(t, 1)
	require.Never(t, func() bool { return count.Load() > 1 }, 100*time.Millisecond, poll, "iterated without interval or wake")

	r.w.Wake()
	require.EqualValues(t, 2, receive(t, started, "the iteration the wake asked for"))
	for range 5 {
		r.w.Wake() // arrive while iteration 2 runs: one more iteration, not five
	}
	close(release)
	require.EqualValues(t, 3, receive(t, started, "the iteration the coalesced wakes asked for"))
	r.waitEnds(t, 3)
	require.Never(t, func() bool { return count.Load() > 3 }, 200*time.Millisecond, poll, "wakes did not coalesce")
}

func TestIterationEndReportsOutcomeItemsAndMetrics(t *testing.T) {
	t.Parallel()
	var count atomic.Int32
	r := start(t, cfg("reminders", time.Hour), func(context.Context) (worker.Result, error) {
		switch count.Add(1) {
		case 1:
			return worker.Result{"sent": 3, "skipped": 1}, nil
		case 2:
			return worker.Result{"sent": 1}, errors.New("panel unreachable")
		default:
			panic("nil subscription")
		}
	})
	r.waitEnds(t, 1)
	r.w.Wake()
	r.waitEnds(t, 2)
	r.w.Wake()
	ends := r.waitEnds(t, 3)
	r.stop(t)

	startsLogged := r.logs.Events(t, worker.EventIterationStart)
	require.Len(t, startsLogged, 3)
	for i, end := range ends {
		require.Equal(t, startsLogged[i]["iteration"], end["iteration"], "START and END of one iteration carry its number")
		require.Equal(t, "reminders", end["worker"])
		require.Contains(t, end, "duration")
	}
	require.Equal(t, "ok", ends[0]["outcome"])
	require.Equal(t, "info", ends[0]["level"])
	require.Equal(t, map[string]any{"sent": 3.0, "skipped": 1.0}, ends[0]["items"])
	require.NotContains(t, ends[0], "error")

	require.Equal(t, "error", ends[1]["outcome"])
	require.Equal(t, "error", ends[1]["level"])
	require.Equal(t, "panel unreachable", ends[1]["error"])
	require.Equal(t, map[string]any{"sent": 1.0}, ends[1]["items"], "a failed iteration's partial counts are reported")

	require.Equal(t, "error", ends[2]["outcome"])
	require.Contains(t, ends[2]["error"], "iteration panicked: nil subscription")

	for outcome, want := range map[string]float64{"ok": 1, "error": 2, "timeout": 0, "canceled": 0} {
		require.Equal(t, want, r.metric(t, "vpnbot_worker_iterations_total", map[string]string{"worker": "reminders", "outcome": outcome}), outcome)
	}
	require.EqualValues(t, 4, r.metric(t, "vpnbot_worker_items_total", map[string]string{"item": "sent"}))
	require.EqualValues(t, 1, r.metric(t, "vpnbot_worker_items_total", map[string]string{"item": "skipped"}))
	require.EqualValues(t, 3, r.metric(t, "vpnbot_worker_iteration_duration_seconds", nil), "histogram sample count")
	lastSuccess := r.metric(t, "vpnbot_worker_last_success_timestamp_seconds", map[string]string{"worker": "reminders"})
	require.InDelta(t, float64(time.Now().Unix()), lastSuccess, 10)
	require.Zero(t, r.metric(t, "vpnbot_worker_abandoned_iterations", nil))
	_, ok := obstest.Metric(t, r.reg, "vpnbot_worker_leader", nil)
	require.False(t, ok, "a worker that is not a singleton shows no leader series")
}

func TestIterationPastItsTimeoutEndsAtTheTimeoutAndTheLoopGoesOn(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	var count atomic.Int32
	hungAt := make(chan time.Time, 1)
	release := make(chan struct{})
	c := cfg("expiry-cleanup", 20*time.Millisecond)
	c.IterationTimeout = timeout
	r := start(t, c, func(ctx context.Context) (worker.Result, error) {
		switch count.Add(1) {
		case 1: // a panel call that hangs and ignores ctx
			hungAt <- time.Now()
			<-release
			return worker.Result{"revoked": 1}, nil
		case 2: // one that honours ctx
			<-ctx.Done()
			return nil, ctx.Err()
		default:
			return worker.Result{"revoked": 0}, nil
		}
	})
	began := receive(t, hungAt, "the hanging iteration")
	r.waitEnds(t, 1)
	require.Less(t, time.Since(began), timeout+slack, "ITERATION_END of a hung iteration came late")

	ends := r.waitEnds(t, 3)
	require.Equal(t, "timeout", ends[0]["outcome"])
	require.Equal(t, true, ends[0]["abandoned"])
	require.InDelta(t, float64(timeout.Milliseconds()), ends[0]["duration"], float64(slack.Milliseconds()))
	require.Equal(t, "timeout", ends[1]["outcome"])
	require.Equal(t, false, ends[1]["abandoned"])
	require.Equal(t, "ok", ends[2]["outcome"], "the loop went on after the timeouts")

	timeouts := r.logs.Events(t, worker.EventWorkerTimeout)
	require.Len(t, timeouts, 2)
	require.Equal(t, "error", timeouts[0]["level"])
	require.EqualValues(t, timeout.Milliseconds(), timeouts[0]["timeout"])
	require.Contains(t, timeouts[0]["message"], "100ms")
	require.EqualValues(t, 2, r.metric(t, "vpnbot_worker_iterations_total", map[string]string{"outcome": "timeout"}))
	require.EqualValues(t, 1, r.metric(t, "vpnbot_worker_abandoned_iterations", map[string]string{"worker": "expiry-cleanup"}))

	close(release)
	require.Eventually(t, func() bool {
		v, _ := obstest.Metric(t, r.reg, "vpnbot_worker_abandoned_iterations", nil)
		return v == 0
	}, waitFor, poll, "the abandoned iteration returned but is still counted")
	require.Len(t, r.logs.Lines("abandoned iteration returned"), 1)
	r.stop(t)
	revoked, _ := obstest.Metric(t, r.reg, "vpnbot_worker_items_total", map[string]string{"item": "revoked"})
	require.Zero(t, revoked, "an abandoned iteration's counts are not taken: its ITERATION_END did not report them")
}

func TestStopCancelsAnIterationPastStopGrace(t *testing.T) {
	t.Parallel()
	const grace = 100 * time.Millisecond
	started := make(chan struct{}, 1)
	c := cfg("trial-notifier", time.Hour)
	c.StopGrace = grace
	c.IterationTimeout = time.Minute
	r := start(t, c, func(ctx context.Context) (worker.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return worker.Result{"sent": 2}, ctx.Err()
	})
	receive(t, started, "the iteration")
	took := r.stop(t)
	require.GreaterOrEqual(t, took, grace, "the iteration was cancelled before its stop grace")
	require.Less(t, took, grace+slack)

	ends := r.ends(t)
	require.Len(t, ends, 1)
	require.Equal(t, "canceled", ends[0]["outcome"])
	require.Equal(t, "warn", ends[0]["level"])
	require.Equal(t, map[string]any{"sent": 2.0}, ends[0]["items"])
	require.Empty(t, r.logs.Events(t, worker.EventWorkerTimeout))
	require.EqualValues(t, 1, r.metric(t, "vpnbot_worker_iterations_total", map[string]string{"outcome": "canceled"}))
}

func TestStopLetsTheIterationFinishWithinStopGrace(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	c := cfg("activation", time.Hour)
	c.StopGrace = waitFor
	r := start(t, c, func(ctx context.Context) (worker.Result, error) {
		started <- struct{}{}
		<-release
		// An error here would mean the grace was not given.
		return worker.Result{"delivered": 1}, ctx.Err()
	})
	receive(t, started, "the iteration")
	r.cancel()
	select {
	case <-r.done:
		t.Fatal("Run returned while the iteration was within its stop grace")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	r.stop(t)

	ends := r.ends(t)
	require.Len(t, ends, 1, "no iteration starts once stopping")
	require.Equal(t, "ok", ends[0]["outcome"])
	require.NotContains(t, ends[0], "error")
	require.Equal(t, map[string]any{"delivered": 1.0}, ends[0]["items"])
}

func TestLiveFailsWhileIterationsHangAndRecovers(t *testing.T) {
	t.Parallel()
	var hang atomic.Bool
	release := make(chan struct{})
	c := worker.Config{
		Name: "reminders", Interval: 20 * time.Millisecond, IterationTimeout: 50 * time.Millisecond,
		StopGrace: 50 * time.Millisecond, LiveMargin: 50 * time.Millisecond,
	}
	r := start(t, c, func(context.Context) (worker.Result, error) {
		if hang.Load() {
			<-release
		}
		return nil, nil
	})
	r.waitEnds(t, 1)
	require.NoError(t, r.w.Live(t.Context()))

	hang.Store(true)
	require.Eventually(t, func() bool { return r.w.Live(t.Context()) != nil }, waitFor, poll,
		"Live kept passing while no iteration completed")
	require.ErrorContains(t, r.w.Live(t.Context()), "worker reminders: no iteration completed")
	// Once the hung iteration is abandoned, Live tells on-call why.
	require.Eventually(t, func() bool {
		err := r.w.Live(t.Context())
		return err != nil && strings.Contains(err.Error(), "abandoned iteration(s) still running")
	}, waitFor, poll)
	// The iteration counts as abandoned a moment before its WORKER_TIMEOUT
	// line is written.
	require.Eventually(t, func() bool { return len(r.logs.Events(t, worker.EventWorkerTimeout)) > 0 }, waitFor, poll,
		"the loop went on timing iterations out")

	hang.Store(false)
	close(release)
	require.Eventually(t, func() bool { return r.w.Live(t.Context()) == nil }, waitFor, poll,
		"Live did not recover once iterations completed again")
	require.Eventually(t, func() bool {
		v, _ := obstest.Metric(t, r.reg, "vpnbot_worker_abandoned_iterations", nil)
		return v == 0
	}, waitFor, poll)
}

func TestNewRejectsAConfigThatCannotWork(t *testing.T) {
	t.Parallel()
	noop := func(context.Context) (worker.Result, error) { return nil, nil }
	for _, tc := range []struct {
		cfg  worker.Config
		fn   worker.IterationFunc
		want string
	}{
		{worker.Config{Interval: time.Second}, noop, "Name is empty"},
		{worker.Config{Name: "reminders"}, noop, "Interval is 0s"},
		{worker.Config{Name: "payment-watcher", Interval: time.Second, Singleton: true}, noop, "Singleton needs an Elector"},
		{worker.Config{Name: "reminders", Interval: time.Second}, nil, "iteration func is nil"},
	} {
		_, err := worker.New(tc.cfg, tc.fn, obstest.NewLogger(&obstest.LogBuffer{}), nil)
		require.ErrorContains(t, err, tc.want)
	}

	// Two workers of one process share the registry's metric families.
	reg := prometheus.NewRegistry()
	for _, name := range []string{"reminders", "trial-notifier"} {
		_, err := worker.New(cfg(name, time.Second), noop, obstest.NewLogger(&obstest.LogBuffer{}), reg)
		require.NoError(t, err)
	}
	v, ok := obstest.Metric(t, reg, "vpnbot_worker_iterations_total", map[string]string{"worker": "trial-notifier", "outcome": "ok"})
	require.True(t, ok)
	require.Zero(t, v)
}

// serviceConfig is how a worker service embeds Env in its configuration.
type serviceConfig struct {
	worker.Env
}

func TestEnvReadsTheWorkerSettings(t *testing.T) {
	t.Setenv("WORKER_INTERVAL", "30s")
	t.Setenv("WORKER_SINGLETON", "true")
	got, err := config.Load(serviceConfig{Env: worker.NewEnv(time.Minute)})
	require.NoError(t, err)
	require.Equal(t, worker.Config{
		Name: "payment-watcher", Interval: 30 * time.Second, IterationTimeout: worker.DefaultIterationTimeout, Singleton: true,
	}, got.Config("payment-watcher"))
	require.Equal(t, "30s", config.Fields(got)["WORKER_INTERVAL"].(time.Duration).String())

	t.Setenv("WORKER_ITERATION_TIMEOUT", "0s")
	_, err = config.Load(serviceConfig{Env: worker.NewEnv(time.Minute)})
	require.ErrorContains(t, err, "WORKER_ITERATION_TIMEOUT=0s")
}
