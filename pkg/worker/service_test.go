package worker_test

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/service"
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

func TestStartRunsTheLoopInTheServiceOnTheElectedReplica(t *testing.T) {
	db := pgdbtest.New(t)
	nats := bustest.NewServer(t)
	name := "svc-" + strconv.FormatUint(rand.Uint64(), 36)
	ops := freeAddr(t)
	logs := &obstest.LogBuffer{}
	t.Setenv("OPS_ADDR", ops)
	t.Setenv("NATS_URL", nats.URL())
	t.Setenv("DATABASE_URL", db.DSN)

	var iterations atomic.Int32
	env := worker.NewEnv(50 * time.Millisecond)
	env.Singleton = true // the loop runs once this replica is elected
	spec := service.Spec[testConfig]{
		Name:      name,
		Defaults:  testConfig{Base: config.NewBase(ops), DB: config.NewDB(2)},
		LogOutput: logs,
		BuildFunc: func(_ context.Context, _ testConfig, s *service.Service) error {
			_, err := worker.Start(s, env, rand.Int64(), func(context.Context) (worker.Result, error) {
				iterations.Add(1)
				return worker.Result{"done": 1}, nil
			})
			return err
		},
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, spec) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	require.Eventually(t, func() bool { return iterations.Load() >= 2 }, waitFor, poll, "no iteration ran")
	require.Eventually(t, func() bool {
		return httpStatus(ctx, "http://"+ops+"/readyz") == http.StatusOK && httpStatus(ctx, "http://"+ops+"/livez") == http.StatusOK
	}, waitFor, poll, "/readyz or /livez never answered 200")
	var electors int
	require.NoError(t, db.Pool.QueryRow(ctx,
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name+"-election").Scan(&electors))
	require.Equal(t, 1, electors, "the elector's connection is not named <service>-election")
	require.NotEmpty(t, logs.Events(t, worker.EventIterationEnd))

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("the service did not return after cancel")
	}
	done <- nil // for the cleanup
	var iterationEnds, stopped int
	for _, line := range logs.Lines() {
		switch {
		case strings.Contains(line, obs.EventServiceStop):
			stopped = iterationEnds
		case strings.Contains(line, worker.EventIterationEnd):
			iterationEnds++
		}
	}
	require.Equal(t, iterationEnds, stopped, "an iteration ended after the service stopped")
}

// testConfig is a worker service's configuration.
type testConfig struct {
	config.Base
	config.DB
}
