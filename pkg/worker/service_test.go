package worker_test

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// freeAddr returns a loopback address nothing listens on, for OPS_ADDR.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func httpStatus(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestRunServiceServesIteratesAndStopsCleanly(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	nats := bustest.NewServer(t)
	name := "svc-" + strconv.FormatUint(rand.Uint64(), 36)
	ops := freeAddr(t)
	logs := &obstest.LogBuffer{}

	var iterations, afterRan atomic.Int32
	var closed atomic.Bool
	streamDeclared := make(chan struct{})
	env := worker.NewEnv(50 * time.Millisecond)
	env.Singleton = true // the loop runs once this replica is elected
	spec := worker.ServiceSpec{
		Name: name, LockKey: rand.Int64(),
		Config: struct{ Name string }{name},
		Base:   config.Base{Instance: "test", LogLevel: "info", OpsAddr: ops, NATSURL: nats.URL()},
		DB:     config.DB{DatabaseURL: db.DSN, PoolMaxSize: 2},
		Env:    env,
		Streams: []func(context.Context, jetstream.JetStream) error{func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "SVCTEST", Subjects: []string{"svctest.>"}})
			if err == nil {
				close(streamDeclared)
			}
			return err
		}},
		StreamsName: "the SVCTEST stream",
		LogOutput:   logs,
		Setup: func(_ context.Context, d worker.Deps) (worker.Parts, error) {
			return worker.Parts{
				Iterate: func(context.Context) (worker.Result, error) {
					iterations.Add(1)
					return worker.Result{"done": 1}, nil
				},
				After: []func(context.Context, *worker.Worker) error{func(ctx context.Context, w *worker.Worker) error {
					// Started only once the streams exist.
					select {
					case <-streamDeclared:
						afterRan.Add(1)
					default:
					}
					<-ctx.Done()
					return nil
				}},
				Close: func() { closed.Store(true) },
			}, nil
		},
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.RunService(ctx, spec) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	require.Eventually(t, func() bool { return iterations.Load() >= 2 }, waitFor, poll, "no iteration ran")
	require.Eventually(t, func() bool { return afterRan.Load() == 1 }, waitFor, poll, "the After goroutine did not start after the streams")
	require.Eventually(t, func() bool {
		return httpStatus(ctx, "http://"+ops+"/readyz") == http.StatusOK && httpStatus(ctx, "http://"+ops+"/livez") == http.StatusOK
	}, waitFor, poll, "/readyz or /livez never answered 200")
	var electors int
	require.NoError(t, db.Pool.QueryRow(ctx,
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name+"-election").Scan(&electors))
	require.Equal(t, 1, electors, "the elector's connection is not named <service>-election")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("RunService did not return after cancel")
	}
	done <- nil // for the cleanup
	require.True(t, closed.Load(), "Parts.Close did not run")
	require.Len(t, logs.Events(t, obs.EventServiceStart), 1)
	require.Len(t, logs.Events(t, obs.EventConfig), 1)
	stops := logs.Events(t, obs.EventServiceStop)
	require.Len(t, stops, 1)
	require.Equal(t, name, stops[0]["service"])
}
