package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/buildinfo"
	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/service"
)

const (
	waitFor = 15 * time.Second
	poll    = 10 * time.Millisecond
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, bustest.IgnoreClusterShutdownLeaks()...)
}

// withDB is a service with a pool; withoutDB one without.
type withDB struct {
	config.Base
	config.DB
}

type withoutDB struct {
	config.Base
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// env sets the settings every service reads, as a deployment would: the
// tests run one at a time.
func env(t *testing.T, natsURL, dsn string) (opsAddr string) {
	t.Helper()
	opsAddr = freeAddr(t)
	t.Setenv("INSTANCE", "test")
	t.Setenv("LOG_LEVEL", "info")
	t.Setenv("OPS_ADDR", opsAddr)
	t.Setenv("NATS_URL", natsURL)
	t.Setenv("DATABASE_URL", dsn)
	t.Setenv("DB_POOL_MAX_SIZE", "2")
	t.Setenv("WATCHDOG_EXIT_AFTER", "0s")
	return opsAddr
}

// get returns the status and body of GET url, 0 when nothing answered.
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func workStream() jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: "SVC", Subjects: []string{"svc.>"}, Retention: jetstream.WorkQueuePolicy}
}

// start runs spec until the test ends; the returned channel has Run's result.
func start[C service.Config](t *testing.T, spec service.Spec[C]) (cancel context.CancelFunc, done chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- service.Run(ctx, spec) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitFor):
			t.Error("Run did not return")
		}
	})
	return cancel, done
}

// TestShutdownDrainsInOrder stops a service while an HTTP request and a
// consumer's handler are in flight: the request finishes and still
// publishes to NATS, then the handler finishes, still has its pool, and its
// ack reaches NATS; then NATS is drained, then the pool closed, then the
// closers run.
func TestShutdownDrainsInOrder(t *testing.T) {
	db := pgdbtest.New(t)
	srv := bustest.NewServer(t)
	ops := env(t, srv.URL(), db.DSN)
	httpAddr := freeAddr(t)
	logs := &obstest.LogBuffer{}

	requestIn, releaseRequest := make(chan struct{}), make(chan struct{})
	handlerIn, releaseHandler := make(chan struct{}), make(chan struct{})
	var handlerErr error
	spec := service.Spec[withDB]{
		Name:      "svc",
		Defaults:  withDB{Base: config.NewBase(ops), DB: config.NewDB(2)},
		Streams:   []jetstream.StreamConfig{workStream()},
		LogOutput: logs,
		BuildFunc: func(_ context.Context, _ withDB, s *service.Service) error {
			mux := http.NewServeMux()
			mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
				close(requestIn)
				<-releaseRequest
				if _, err := bus.Publish(r.Context(), s.JS, "svc.http", []byte("from a request"), "http:1"); err != nil {
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusOK)
			})
			if err := s.Serve("webhook", httpAddr, mux); err != nil {
				return err
			}
			c, err := bus.NewConsumer(s.JS, bus.ConsumerConfig{
				Stream: "SVC", Subject: "svc.work", Durable: "worker", Mode: bus.Shared,
				HandleFunc: func(ctx context.Context, d bus.Delivery) error {
					close(handlerIn)
					<-releaseHandler
					_, handlerErr = s.Pool.Exec(ctx, "SELECT 1")
					return handlerErr
				},
			}, s.Log, s.Ops.Registry())
			if err != nil {
				return err
			}
			s.Consume(c)
			s.OnClose(func() { s.Log.Info().Msg("closer ran") })
			return nil
		},
	}
	cancel, done := start(t, spec)
	require.Eventually(t, func() bool { code, _ := get("http://" + ops + "/readyz"); return code == http.StatusOK }, waitFor, poll)

	_, js := bustest.Connect(t, srv.URL())
	_, err := bus.Publish(context.Background(), js, "svc.work", []byte("job"), "work:1")
	require.NoError(t, err)
	<-handlerIn
	answer := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+httpAddr+"/slow", "text/plain", nil)
		if err != nil {
			answer <- 0
			return
		}
		_ = resp.Body.Close()
		answer <- resp.StatusCode
	}()
	<-requestIn

	cancel()
	require.Eventually(t, func() bool {
		code, body := get("http://" + ops + "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "stopping")
	}, waitFor, poll, "/readyz must say the service is stopping while it drains")
	close(releaseRequest)
	require.Equal(t, http.StatusOK, <-answer, "a request in flight finishes, and NATS is still there for it")
	close(releaseHandler)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("Run did not return")
	}
	done <- nil
	require.NoError(t, handlerErr, "a handler in flight still has its pool")

	s, err := js.Stream(context.Background(), "SVC")
	require.NoError(t, err)
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter("svc.>"))
	require.NoError(t, err)
	require.Equal(t, map[string]uint64{"svc.http": 1}, info.State.Subjects,
		"the request's publish is stored and the handled job's ack reached NATS")

	var order []string
	for _, line := range logs.Lines() {
		for _, mark := range []string{`"step":"http"`, `"step":"work"`, `"step":"ops"`, `"step":"nats"`, `"step":"pool"`, "closer ran", `"step":"tracing"`, obs.EventServiceStop} {
			if strings.Contains(line, mark) {
				order = append(order, mark)
			}
		}
	}
	require.Equal(t, []string{`"step":"http"`, `"step":"work"`, `"step":"ops"`, `"step":"nats"`, `"step":"pool"`, "closer ran", `"step":"tracing"`, obs.EventServiceStop}, order)
	require.Len(t, logs.Events(t, obs.EventServiceStart), 1)
	require.Len(t, logs.Events(t, obs.EventConfig), 1)
	require.Equal(t, config.RedactURL(db.DSN), logs.Events(t, obs.EventConfig)[0]["DATABASE_URL"], "CONFIG logs the configuration")
}

// TestBuildMayBlockWhileTheServiceIsLiveButNotReady: the ops endpoint
// answers while Build waits for an outside system, and the loops start only
// once Build has returned and the streams exist.
func TestBuildMayBlockWhileTheServiceIsLiveButNotReady(t *testing.T) {
	srv := bustest.NewServer(t)
	srv.Stop() // NATS is not up yet either
	ops := env(t, srv.URL(), "")
	logs := &obstest.LogBuffer{}
	release := make(chan struct{})
	loopSawStream := make(chan bool, 1)
	spec := service.Spec[withoutDB]{
		Name:      "blocking",
		Defaults:  withoutDB{Base: config.NewBase(ops)},
		Streams:   []jetstream.StreamConfig{workStream()},
		LogOutput: logs,
		BuildFunc: func(ctx context.Context, _ withoutDB, s *service.Service) error {
			require.Nil(t, s.Pool, "a Config without config.DB gets no pool")
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			s.Go(func(ctx context.Context) error {
				_, err := s.JS.Stream(ctx, "SVC")
				loopSawStream <- err == nil
				<-ctx.Done()
				return nil
			})
			return nil
		},
	}
	cancel, done := start(t, spec)
	require.Eventually(t, func() bool {
		code, body := get("http://" + ops + "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "streams not declared")
	}, waitFor, poll)
	code, _ := get("http://" + ops + "/livez")
	require.Equal(t, http.StatusOK, code, "a service still starting is live")
	require.Len(t, logs.Events(t, obs.EventDBPoolMaxSize), 1, "a service without a pool states its share: 0")

	close(release)
	srv.Restart()
	require.True(t, <-loopSawStream, "a loop started before its streams were declared")
	require.Eventually(t, func() bool { code, _ := get("http://" + ops + "/readyz"); return code == http.StatusOK }, waitFor, poll)
	require.Len(t, logs.Events(t, service.EventStreamsDeclared), 1)

	cancel()
	require.NoError(t, <-done)
	done <- nil
}

func TestRedeclareStreamsPutsADeletedStreamBack(t *testing.T) {
	srv := bustest.NewServer(t)
	ops := env(t, srv.URL(), "")
	svc := make(chan *service.Service, 1)
	spec := service.Spec[withoutDB]{
		Name:      "redeclaring",
		Defaults:  withoutDB{Base: config.NewBase(ops)},
		Streams:   []jetstream.StreamConfig{workStream()},
		LogOutput: io.Discard,
		BuildFunc: func(_ context.Context, _ withoutDB, s *service.Service) error {
			svc <- s
			return nil
		},
	}
	start(t, spec)
	s := <-svc
	require.Eventually(t, func() bool { code, _ := get("http://" + ops + "/readyz"); return code == http.StatusOK }, waitFor, poll)
	_, js := bustest.Connect(t, srv.URL())
	require.NoError(t, js.DeleteStream(context.Background(), "SVC"))
	s.RedeclareStreams()
	require.Eventually(t, func() bool {
		_, err := js.Stream(context.Background(), "SVC")
		return err == nil
	}, waitFor, poll)
}

// TestStreamsAreDeclaredOnStreamReplicasServers: the skeleton declares every
// stream of the Spec on STREAM_REPLICAS servers, says so, and puts the count
// back when it declares them again.
func TestStreamsAreDeclaredOnStreamReplicasServers(t *testing.T) {
	c := bustest.NewCluster(t, 3)
	ops := env(t, c.URL(), "")
	t.Setenv("STREAM_REPLICAS", "3")
	logs := &obstest.LogBuffer{}
	svc := make(chan *service.Service, 1)
	start(t, service.Spec[withoutDB]{
		Name:      "replicated",
		Defaults:  withoutDB{Base: config.NewBase(ops)},
		Streams:   []jetstream.StreamConfig{workStream(), bus.DLQStreamConfig()},
		LogOutput: logs,
		BuildFunc: func(_ context.Context, _ withoutDB, s *service.Service) error {
			svc <- s
			return nil
		},
	})
	s := <-svc
	require.Eventually(t, func() bool { code, _ := get("http://" + ops + "/readyz"); return code == http.StatusOK }, 30*time.Second, poll)
	declared := logs.Events(t, service.EventStreamsDeclared)
	require.Len(t, declared, 1)
	require.EqualValues(t, 3, declared[0]["replicas"], "on-call reads the count in STREAMS_DECLARED")
	require.EqualValues(t, 3, logs.Events(t, obs.EventConfig)[0]["STREAM_REPLICAS"], "and in CONFIG")

	_, js := bustest.Connect(t, c.URL())
	replicas := func(name string) int {
		st, err := js.Stream(t.Context(), name)
		require.NoError(t, err)
		return st.CachedInfo().Config.Replicas
	}
	require.Equal(t, 3, replicas("SVC"))
	require.Equal(t, 3, replicas(bus.StreamDLQ))

	st, err := js.Stream(t.Context(), "SVC")
	require.NoError(t, err)
	scaled := st.CachedInfo().Config
	scaled.Replicas = 1
	_, err = js.UpdateStream(t.Context(), scaled)
	require.NoError(t, err)
	s.RedeclareStreams()
	require.Eventually(t, func() bool { return replicas("SVC") == 3 }, waitFor, poll, "the count set by hand is put back")
}

// TestStreamReplicasALoneServerCannotKeepLeaveTheServiceNotReady: the
// declaration fails with JetStream's reason, retried, and the service is not
// ready meanwhile.
func TestStreamReplicasALoneServerCannotKeepLeaveTheServiceNotReady(t *testing.T) {
	srv := bustest.NewServer(t)
	ops := env(t, srv.URL(), "")
	t.Setenv("STREAM_REPLICAS", "3")
	logs := &obstest.LogBuffer{}
	start(t, service.Spec[withoutDB]{
		Name:      "overreplicated",
		Defaults:  withoutDB{Base: config.NewBase(ops)},
		Streams:   []jetstream.StreamConfig{workStream()},
		LogOutput: logs,
		BuildFunc: func(context.Context, withoutDB, *service.Service) error { return nil },
	})
	require.Eventually(t, func() bool { return len(logs.Lines(service.EventStreamsDeclareFailed, "replicas")) > 0 }, waitFor, poll,
		"no STREAMS_DECLARE_FAILED naming the replicas in:\n%s", logs)
	// The ops server may log the failed declaration before it listens.
	var code int
	var body string
	require.Eventually(t, func() bool {
		code, body = get("http://" + ops + "/readyz")
		return code != 0
	}, waitFor, poll, "the ops server never answered")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "streams not declared")
}

func TestAFailingPartStopsTheServiceAndIsReturned(t *testing.T) {
	srv := bustest.NewServer(t)
	db := pgdbtest.New(t)
	ops := env(t, srv.URL(), db.DSN)
	logs := &obstest.LogBuffer{}
	boom := errors.New("the panel refused our credentials")
	var mu sync.Mutex
	stoppedLoop := false
	spec := service.Spec[withDB]{
		Name:      "failing",
		Defaults:  withDB{Base: config.NewBase(ops), DB: config.NewDB(2)},
		LogOutput: logs,
		BuildFunc: func(_ context.Context, _ withDB, s *service.Service) error {
			s.Go(func(ctx context.Context) error {
				<-ctx.Done()
				mu.Lock()
				stoppedLoop = true
				mu.Unlock()
				return nil
			})
			s.Go(func(context.Context) error { return boom })
			return nil
		},
	}
	_, done := start(t, spec)
	select {
	case err := <-done:
		require.ErrorIs(t, err, boom)
	case <-time.After(waitFor):
		t.Fatal("a failing part did not stop the service")
	}
	done <- nil
	mu.Lock()
	require.True(t, stoppedLoop, "the other parts are stopped too")
	mu.Unlock()
	stops := logs.Events(t, obs.EventServiceStop)
	require.Len(t, stops, 1)
	require.Equal(t, "error", stops[0]["level"])
	require.Contains(t, stops[0]["error"], boom.Error())

	// A service whose Build fails fails the same way.
	spec.BuildFunc = func(context.Context, withDB, *service.Service) error { return boom }
	t.Setenv("OPS_ADDR", freeAddr(t))
	require.ErrorIs(t, service.Run(context.Background(), spec), boom)
}

func TestAServerThatStopsServingFailsLivenessAndTheService(t *testing.T) {
	srv := bustest.NewServer(t)
	ops := env(t, srv.URL(), "")
	logs := &obstest.LogBuffer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lns := make(chan *service.Service, 1)
	spec := service.Spec[withoutDB]{
		Name:      "serving",
		Defaults:  withoutDB{Base: config.NewBase(ops)},
		LogOutput: logs,
		BuildFunc: func(_ context.Context, _ withoutDB, s *service.Service) error {
			s.ServeListener("webhook_server", ln, http.NotFoundHandler())
			lns <- s
			return nil
		},
	}
	_, done := start(t, spec)
	s := <-lns
	require.Eventually(t, func() bool { code, _ := get("http://" + ops + "/readyz"); return code == http.StatusOK }, waitFor, poll)
	require.NoError(t, s.Ops.Live(context.Background()))

	require.NoError(t, ln.Close()) // the listener fails under the server
	select {
	case err := <-done:
		require.ErrorContains(t, err, "serving webhook_server", "a server that stopped serving fails the service")
	case <-time.After(waitFor):
		t.Fatal("the service went on without its server")
	}
	done <- nil
	require.ErrorContains(t, s.Ops.Live(context.Background()), "webhook_server", "its liveness check failed first")
	require.NotEmpty(t, logs.Events(t, obs.EventServiceStop))
}

// A service without NATS is ready with NATS down, and one that also names
// streams is refused: it could never declare them.
func TestAServiceWithoutNATSIsReadyWhileNATSIsDown(t *testing.T) {
	srv := bustest.NewServer(t)
	srv.Stop()
	ops := env(t, srv.URL(), "")
	spec := service.Spec[withoutDB]{
		Name:        "no-nats",
		Defaults:    withoutDB{Base: config.NewBase(ops)},
		WithoutNATS: true,
		LogOutput:   &obstest.LogBuffer{},
		BuildFunc: func(_ context.Context, _ withoutDB, s *service.Service) error {
			require.Nil(t, s.NC)
			require.Nil(t, s.JS)
			return nil
		},
	}
	cancel, done := start(t, spec)
	require.Eventually(t, func() bool { code, _ := get("http://" + ops + "/readyz"); return code == http.StatusOK }, waitFor, poll)
	cancel()
	require.NoError(t, <-done)
	done <- nil

	spec.Streams = []jetstream.StreamConfig{workStream()}
	require.ErrorContains(t, service.Run(t.Context(), spec), "a service without NATS has no streams")
}

// A service for which NATS is optional connects (its publishes go out once
// NATS is back) but stays ready while NATS is down.
func TestAServiceWithOptionalNATSIsReadyWhileNATSIsDown(t *testing.T) {
	srv := bustest.NewServer(t)
	srv.Stop()
	ops := env(t, srv.URL(), "")
	connected := make(chan bool, 1)
	cancel, done := start(t, service.Spec[withoutDB]{
		Name:         "optional-nats",
		Defaults:     withoutDB{Base: config.NewBase(ops)},
		NATSOptional: true,
		LogOutput:    &obstest.LogBuffer{},
		BuildFunc: func(_ context.Context, _ withoutDB, s *service.Service) error {
			connected <- s.JS != nil
			return nil
		},
	})
	require.True(t, <-connected, "the service has its JetStream handle to publish with")
	require.Eventually(t, func() bool { code, _ := get("http://" + ops + "/readyz"); return code == http.StatusOK }, waitFor, poll)
	cancel()
	require.NoError(t, <-done)
	done <- nil
}

// Every service says which build it runs: vpnbot_build_info on its /metrics
// and the version in SERVICE_START, the same for both.
func TestTheBuildIsOnMetricsAndInTheStartEvent(t *testing.T) {
	ops := env(t, "nats://127.0.0.1:1", "")
	logs := &obstest.LogBuffer{}
	start(t, service.Spec[withoutDB]{
		Name:        "built",
		Defaults:    withoutDB{Base: config.NewBase(ops)},
		WithoutNATS: true,
		LogOutput:   logs,
		BuildFunc:   func(context.Context, withoutDB, *service.Service) error { return nil },
	})
	build := buildinfo.Get()
	want := fmt.Sprintf(`vpnbot_build_info{go_version=%q,revision=%q,version=%q} 1`, build.GoVersion, build.Revision, build.Version)
	require.Eventually(t, func() bool {
		_, body := get("http://" + ops + "/metrics")
		return strings.Contains(body, want)
	}, waitFor, poll, "/metrics shows %s", want)
	started := logs.Events(t, obs.EventServiceStart)
	require.Len(t, started, 1)
	require.Equal(t, build.Version, started[0]["version"])
	require.Equal(t, build.Revision, started[0]["revision"])
	require.Equal(t, build.GoVersion, started[0]["go_version"])
}
