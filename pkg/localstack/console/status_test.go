package console_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/localstack/console"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	sandboxoutline "github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/pkg/worker/workertest"
)

// faults records what a switch injects into a sandbox.
type faults[F any] struct {
	mu       sync.Mutex
	injected []F
	clears   int
}

func (f *faults[F]) Inject(x F) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.injected = append(f.injected, x)
}

func (f *faults[F]) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.injected = nil
	f.clears++
}

func (f *faults[F]) now() []F {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]F(nil), f.injected...)
}

// panelFake is a sandbox panel that records the faults its switches inject.
type panelFake struct {
	faults[sandboxoutline.Fault]
}

func (*panelFake) Keys() []sandboxoutline.Key { return nil }

func TestSwitchesInjectFaultsAndTurningOneOffKeepsTheOther(t *testing.T) {
	t.Parallel()
	a, b := &panelFake{}, &panelFake{}
	cp := &faults[sandboxcp.Fault]{}
	e := start(t, console.Config{Panels: []console.Panel{{Name: "a", Sandbox: a}, {Name: "b", Sandbox: b}}, CryptoPay: cp})

	status, body := e.do(http.MethodGet, "/api/switches", "")
	require.Equal(t, http.StatusOK, status)
	var names []string
	for _, sw := range decode[[]console.Switch](t, body) {
		require.False(t, sw.On)
		require.NotEmpty(t, sw.Description)
		names = append(names, sw.Name)
	}
	require.Equal(t, []string{
		"panel-a-down", "panel-a-failing", "panel-a-slow", "panel-b-down", "panel-b-failing", "panel-b-slow",
		console.SwitchTelegram429, console.SwitchCryptoPayDown,
	}, names)

	set := func(name string, on bool) []console.Switch {
		t.Helper()
		status, body := e.do(http.MethodPost, "/api/switches/"+name, fmt.Sprintf(`{"on":%t}`, on))
		require.Equal(t, http.StatusOK, status, string(body))
		return decode[[]console.Switch](t, body)
	}

	list := set(console.PanelSwitch("a", console.PanelSlow), true)
	require.True(t, list[2].On)
	require.Equal(t, "a", list[2].Panel)
	require.Equal(t, []sandboxoutline.Fault{{Latency: 3 * time.Second}}, a.now())
	set(console.PanelSwitch("a", console.PanelFailing), true)
	require.Equal(t, []sandboxoutline.Fault{{Latency: 3 * time.Second, Status: http.StatusInternalServerError}}, a.now(),
		"a panel's switches make one fault: only the first matching fault plays")
	require.Empty(t, b.now(), "a switch breaks its own panel only")
	set(console.PanelSwitch("b", console.PanelDown), true)
	require.Equal(t, []sandboxoutline.Fault{{Hang: true}}, b.now(), "down: no answer until the caller gives up")
	set(console.PanelSwitch("a", console.PanelSlow), false)
	require.Equal(t, []sandboxoutline.Fault{{Status: http.StatusInternalServerError}}, a.now())
	set(console.PanelSwitch("a", console.PanelFailing), false)
	require.Empty(t, a.now())
	require.Equal(t, []sandboxoutline.Fault{{Hang: true}}, b.now(), "the other panel stays broken")
	set(console.PanelSwitch("b", console.PanelDown), false)
	require.Empty(t, b.now(), "restored")

	set(console.SwitchCryptoPayDown, true)
	require.Equal(t, []sandboxcp.Fault{{Status: http.StatusServiceUnavailable}}, cp.now())
	set(console.SwitchCryptoPayDown, false)
	require.Empty(t, cp.now())
	require.Empty(t, a.now(), "a switch touches its own sandbox only")

	// Telegram 429s, seen by the bot on the real sandbox: sending fails,
	// other methods do not; turned off, sending works again.
	set(console.SwitchTelegram429, true)
	require.Equal(t, http.StatusTooManyRequests, e.botStatus("sendMessage", map[string]any{"chat_id": 3, "text": "x"}))
	require.Equal(t, http.StatusTooManyRequests, e.botStatus("sendPhoto", map[string]any{"chat_id": 3, "photo": "http://x/y.png"}))
	require.Equal(t, http.StatusTooManyRequests, e.botStatus("sendMessage", map[string]any{"chat_id": 3, "text": "x"}), "until turned off")
	require.Equal(t, http.StatusOK, e.botStatus("getMe", nil))
	set(console.SwitchTelegram429, false)
	require.Equal(t, http.StatusOK, e.botStatus("sendMessage", map[string]any{"chat_id": 3, "text": "x"}))

	status, _ = e.do(http.MethodPost, "/api/switches/nothing", `{"on":true}`)
	require.Equal(t, http.StatusNotFound, status)
	status, _ = e.do(http.MethodPost, "/api/switches/"+console.PanelSwitch("a", console.PanelSlow), `{}`)
	require.Equal(t, http.StatusBadRequest, status, `"on" is required`)
}

func TestSwitchesOfAbsentSandboxesAreLeftOut(t *testing.T) {
	t.Parallel()
	e := start(t, console.Config{})
	_, body := e.do(http.MethodGet, "/api/switches", "")
	list := decode[[]console.Switch](t, body)
	require.Len(t, list, 1)
	require.Equal(t, console.SwitchTelegram429, list[0].Name)
	status, _ := e.do(http.MethodPost, "/api/switches/"+console.PanelSwitch("outline", console.PanelSlow), `{"on":true}`)
	require.Equal(t, http.StatusNotFound, status)
}

// control is a Control over fake services, each an ops endpoint of the
// test's own.
type control struct {
	mu       sync.Mutex
	services []localstack.ServiceID
	running  map[string]bool
	ops      map[string]string
	startErr error
	// release, when set, holds Start until it is closed.
	release chan struct{}
	kills   []string
	starts  []string
}

func (c *control) Services() []localstack.ServiceID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]localstack.ServiceID(nil), c.services...)
}

func (c *control) label(service string, replica int) string {
	if service == localstack.BotHandler {
		return fmt.Sprintf("%s-%d", service, replica)
	}
	return service
}

func (c *control) Kill(service string, replica int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.label(service, replica)
	if !c.running[l] {
		return errors.New("not running")
	}
	c.running[l] = false
	c.kills = append(c.kills, l)
	return nil
}

func (c *control) Start(service string, replica int) error {
	c.mu.Lock()
	release := c.release
	c.mu.Unlock()
	if release != nil {
		<-release
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.label(service, replica)
	c.starts = append(c.starts, l)
	if c.startErr != nil {
		return c.startErr
	}
	c.running[l] = true
	return nil
}

func (c *control) Running(service string, replica int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running[c.label(service, replica)]
}

func (c *control) OpsURL(service string, replica int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[c.label(service, replica)]
}

// opsServer serves a service's /livez, /readyz and /metrics.
func opsServer(t *testing.T, ready error, metrics string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, ready)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, metrics)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// workerMetrics is what an activation worker's /metrics could say; its last
// success is ts.
func workerMetrics(ts time.Time) string {
	return fmt.Sprintf(`# TYPE vpnbot_worker_last_success_timestamp_seconds gauge
vpnbot_worker_last_success_timestamp_seconds{worker="activation"} %d
# TYPE vpnbot_worker_iterations_total counter
vpnbot_worker_iterations_total{outcome="ok",worker="activation"} 7
vpnbot_worker_iterations_total{outcome="error",worker="activation"} 2
# TYPE vpnbot_worker_iteration_duration_seconds histogram
vpnbot_worker_iteration_duration_seconds_bucket{worker="activation",le="+Inf"} 9
vpnbot_worker_iteration_duration_seconds_sum{worker="activation"} 4.5
vpnbot_worker_iteration_duration_seconds_count{worker="activation"} 9
# TYPE vpnbot_worker_items_total counter
vpnbot_worker_items_total{item="activated",worker="activation"} 3
vpnbot_worker_items_total{item="pending",worker="activation"} 16
# TYPE vpnbot_worker_last_iteration_items gauge
vpnbot_worker_last_iteration_items{item="activated",worker="activation"} 0
vpnbot_worker_last_iteration_items{item="pending",worker="activation"} 2
# TYPE vpnbot_worker_leader gauge
vpnbot_worker_leader{worker="activation"} 1
# TYPE vpnbot_consumer_pending gauge
vpnbot_consumer_pending{consumer="activation",stream="ACTIVATION"} 12
# TYPE vpnbot_consumer_lag_seconds gauge
vpnbot_consumer_lag_seconds{consumer="activation",stream="ACTIVATION"} 3.5
# TYPE vpnbot_consumer_messages_total counter
vpnbot_consumer_messages_total{consumer="activation",outcome="ok",stream="ACTIVATION"} 40
vpnbot_consumer_messages_total{consumer="activation",outcome="dlq",stream="ACTIVATION"} 1
# TYPE vpnbot_consumer_redeliveries_total counter
vpnbot_consumer_redeliveries_total{consumer="activation",stream="ACTIVATION"} 5
# TYPE vpnbot_db_pool_acquired_conns gauge
vpnbot_db_pool_acquired_conns 2
# TYPE vpnbot_db_pool_max_conns gauge
vpnbot_db_pool_max_conns 10
# TYPE go_goroutines gauge
go_goroutines 31
`, ts.Unix())
}

func TestStatusReadsEachServicesOwnEndpoints(t *testing.T) {
	t.Parallel()
	c := &control{
		services: []localstack.ServiceID{
			{Name: localstack.Activation, Label: localstack.Activation},
			{Name: localstack.BotHandler, Replica: 0, Label: "bot-handler-0"},
			{Name: localstack.Sender, Label: localstack.Sender},
		},
		running: map[string]bool{localstack.Activation: true, "bot-handler-0": true},
		ops: map[string]string{
			localstack.Activation: opsServer(t, nil, workerMetrics(time.Now().Add(-30*time.Second))),
			"bot-handler-0":       opsServer(t, errors.New("nats: connection closed"), "# nothing yet\n"),
			localstack.Sender:     "http://127.0.0.1:1",
		},
	}
	e := start(t, console.Config{Control: c})
	e.tg.SendText(1, "/start") // one update waiting, as the status shows

	status, body := e.do(http.MethodGet, "/api/status", "")
	require.Equal(t, http.StatusOK, status, string(body))
	st := decode[console.Status](t, body)
	require.Len(t, st.Services, 3)
	require.Equal(t, 1, st.Telegram.Pending)

	act := st.Services[0]
	require.Equal(t, localstack.Activation, act.Label)
	require.True(t, act.Running)
	require.True(t, act.Live.OK)
	require.True(t, act.Ready.OK)
	require.Empty(t, act.MetricsError)
	require.Len(t, act.Workers, 1)
	w := act.Workers[0]
	require.Equal(t, "activation", w.Worker)
	require.NotNil(t, w.LastSuccessAge)
	require.InDelta(t, 30, *w.LastSuccessAge, 20, "seconds since the last success")
	require.Equal(t, map[string]float64{"ok": 7, "error": 2}, w.IterationsTotal)
	require.False(t, w.Failing, "it succeeded 30 s ago and has no interval to be late by")
	require.NotNil(t, w.MeanDuration)
	require.InDelta(t, 0.5, *w.MeanDuration, 1e-9)
	require.Equal(t, map[string]float64{"activated": 3, "pending": 16}, w.ItemsTotal, "since start")
	require.Equal(t, map[string]float64{"activated": 0, "pending": 2}, w.LastItems, "now")
	require.Equal(t, map[string]float64{"leader": 1}, w.Gauges)
	require.Len(t, act.Consumers, 1)
	cons := act.Consumers[0]
	require.Equal(t, "ACTIVATION", cons.Stream)
	require.Equal(t, map[string]float64{"pending": 12, "lag_seconds": 3.5}, cons.Gauges, "a consumer gauge added later shows up by itself")
	require.Equal(t, map[string]float64{"ok": 40, "dlq": 1}, cons.DeliveriesTotal)
	require.Equal(t, map[string]float64{"redeliveries_total": 5}, cons.Counters)
	require.Nil(t, cons.MeanHandler, "no handler histogram reported")
	require.Equal(t, map[string]float64{"acquired_conns": 2, "max_conns": 10}, act.Pool)
	require.Equal(t, map[string]float64{"goroutines": 31}, act.Process)

	bh := st.Services[1]
	require.True(t, bh.Live.OK)
	require.False(t, bh.Ready.OK)
	require.Equal(t, "nats: connection closed", bh.Ready.Detail)
	require.Empty(t, bh.MetricsError, "an exposition without series is no error")
	require.Empty(t, bh.Workers)
	require.Empty(t, bh.Consumers)
	require.Nil(t, bh.Pool)

	sender := st.Services[2]
	require.False(t, sender.Running)
	require.Equal(t, "not running", sender.Ready.Detail)
	require.False(t, sender.Live.OK)
}

func TestStatusSaysWhyMetricsCannotBeRead(t *testing.T) {
	t.Parallel()
	c := &control{
		services: []localstack.ServiceID{{Name: localstack.Gateway, Label: localstack.Gateway}},
		running:  map[string]bool{localstack.Gateway: true},
		ops:      map[string]string{localstack.Gateway: opsServer(t, nil, "vpnbot_broken{ 1\n")},
	}
	e := start(t, console.Config{Control: c})
	_, body := e.do(http.MethodGet, "/api/status", "")
	st := decode[console.Status](t, body)
	require.True(t, strings.HasPrefix(st.Services[0].MetricsError, "parsing /metrics"), st.Services[0].MetricsError)
	require.True(t, st.Services[0].Ready.OK)
}

func TestKillAndStartAService(t *testing.T) {
	t.Parallel()
	c := &control{
		services: []localstack.ServiceID{{Name: localstack.BotHandler, Replica: 0, Label: "bot-handler-0"}},
		running:  map[string]bool{"bot-handler-0": true},
		ops:      map[string]string{"bot-handler-0": opsServer(t, nil, "")},
		release:  make(chan struct{}),
	}
	e := start(t, console.Config{Control: c})

	status, body := e.do(http.MethodPost, "/api/services/bot-handler-0/kill", "")
	require.Equal(t, http.StatusNoContent, status, string(body))
	require.Equal(t, []string{"bot-handler-0"}, c.kills)
	status, _ = e.do(http.MethodPost, "/api/services/bot-handler-0/kill", "")
	require.Equal(t, http.StatusConflict, status, "it is not running")
	status, _ = e.do(http.MethodPost, "/api/services/nothing/kill", "")
	require.Equal(t, http.StatusNotFound, status)

	// A start answers at once and runs until the service is ready (here:
	// until the test releases it); the status shows it starting meanwhile.
	status, _ = e.do(http.MethodPost, "/api/services/bot-handler-0/start", "")
	require.Equal(t, http.StatusAccepted, status)
	status, _ = e.do(http.MethodPost, "/api/services/bot-handler-0/start", "")
	require.Equal(t, http.StatusConflict, status, "already starting")
	_, body = e.do(http.MethodGet, "/api/status", "")
	st := decode[console.Status](t, body)
	require.True(t, st.Services[0].Starting)
	require.False(t, st.Services[0].Running)
	close(c.release)
	require.Eventually(t, func() bool {
		_, body := e.do(http.MethodGet, "/api/status", "")
		st := decode[console.Status](t, body)
		return st.Services[0].Running && !st.Services[0].Starting && st.Services[0].Ready.OK
	}, 10*time.Second, 20*time.Millisecond)

	// A failed start says why on the status page.
	c.mu.Lock()
	c.startErr = errors.New("bot-handler-0 exited before it was ready")
	c.running["bot-handler-0"] = false
	c.mu.Unlock()
	status, _ = e.do(http.MethodPost, "/api/services/bot-handler-0/start", "")
	require.Equal(t, http.StatusAccepted, status)
	require.Eventually(t, func() bool {
		_, body := e.do(http.MethodGet, "/api/status", "")
		return decode[console.Status](t, body).Services[0].StartError == "bot-handler-0 exited before it was ready"
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{"bot-handler-0", "bot-handler-0"}, c.starts)
}

func TestWithoutControlThereAreNoServices(t *testing.T) {
	t.Parallel()
	e := start(t, console.Config{})
	_, body := e.do(http.MethodGet, "/api/status", "")
	require.Empty(t, decode[console.Status](t, body).Services)
	status, _ := e.do(http.MethodPost, "/api/services/gateway/kill", "")
	require.Equal(t, http.StatusNotFound, status)
}

func TestChangesFromAnotherSiteAreRefused(t *testing.T) {
	t.Parallel()
	c := &control{
		services: []localstack.ServiceID{{Name: localstack.Gateway, Label: localstack.Gateway}},
		running:  map[string]bool{localstack.Gateway: true},
		ops:      map[string]string{localstack.Gateway: opsServer(t, nil, "")},
	}
	e := start(t, console.Config{Control: c})
	// A form on another site posts without a JSON content type, which needs
	// no CORS preflight: refused, and the service lives on.
	for _, ct := range []string{"", "application/x-www-form-urlencoded", "text/plain"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/api/services/gateway/kill", strings.NewReader("x=1"))
		require.NoError(t, err)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := e.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "content type %q", ct)
	}
	require.True(t, c.Running(localstack.Gateway, 0))
	require.Empty(t, c.kills)
	status, _ := e.do(http.MethodPost, "/api/services/gateway/kill", "")
	require.Equal(t, http.StatusNoContent, status, "the page's own calls are JSON")
}

// TestStreamsShowABacklogWhileItsConsumerIsDown reads the streams from
// NATS itself: with the bot-handler gone, updates published for it wait in
// its partitions, and the status page shows them, and that no service reads
// them; the DLQ shows what it holds by origin.
func TestStreamsShowABacklogWhileItsConsumerIsDown(t *testing.T) {
	t.Parallel()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	require.NoError(t, bus.DeclareStreams(t.Context(), js, telegram.UpdatesStreamConfig()))
	// The bot-handler's consumer, as it runs in the service: it declares
	// its durables and the DLQ, then its service is stopped.
	const partitions = 4
	updates, err := bus.NewConsumer(js, bus.ConsumerConfig{
		Stream: telegram.UpdatesStream, Durable: localstack.BotHandler, Subject: telegram.UpdatesSubjectPrefix,
		Mode: bus.Partitioned, Partitions: partitions, FetchWait: 100 * time.Millisecond,
		HandleFunc: func(context.Context, bus.Delivery) error { return nil },
	}, zerolog.Nop(), nil)
	require.NoError(t, err)
	ctx, stop := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() { stopped <- updates.Run(ctx) }()
	require.Eventually(t, func() bool { return updates.Ready(t.Context()) == nil }, 10*time.Second, 20*time.Millisecond)
	stop()
	require.NoError(t, <-stopped)

	for i, partition := range []int{1, 1, 1, 3} {
		_, err := bus.Publish(t.Context(), js, telegram.UpdatesSubject(partition), []byte(`{}`), fmt.Sprintf("update-%d", i))
		require.NoError(t, err)
	}
	_, err = bus.Publish(t.Context(), js, bus.DLQSubject(telegram.UpdatesStream), []byte(`{}`), "dead-1")
	require.NoError(t, err)

	reader := opsServer(t, nil, `# TYPE vpnbot_consumer_pending gauge
vpnbot_consumer_pending{consumer="bot-handler",stream="TG_UPDATES"} 0
`)
	c := &control{
		services: []localstack.ServiceID{{Name: localstack.BotHandler, Replica: 0, Label: "bot-handler-0"}},
		running:  map[string]bool{},
		ops:      map[string]string{"bot-handler-0": reader},
	}
	e := start(t, console.Config{Control: c, JetStream: js})
	status := func() console.Status {
		t.Helper()
		code, body := e.do(http.MethodGet, "/api/status", "")
		require.Equal(t, http.StatusOK, code, string(body))
		return decode[console.Status](t, body)
	}

	st := status()
	require.Empty(t, st.StreamsError)
	require.Equal(t, []string{telegram.UpdatesStream, bus.StreamDLQ}, streamNames(st.Streams), "the DLQ last")
	tg := st.Streams[0]
	require.EqualValues(t, 4, tg.Messages, "stored now")
	require.NotNil(t, tg.LastPublishedAge)
	require.Len(t, tg.Consumers, 1, "a partitioned consumer's durables are one row")
	bh := tg.Consumers[0]
	require.Equal(t, localstack.BotHandler, bh.Name)
	require.Equal(t, partitions, bh.Partitions)
	require.EqualValues(t, 4, bh.Pending, "the backlog, while its service is down")
	require.Equal(t, 2, bh.Behind, "partitions 1 and 3")
	require.Zero(t, bh.AckPending)
	require.Zero(t, bh.Waiting, "nobody fetches")
	require.Nil(t, bh.LastDeliveredAge, "never delivered")
	require.Empty(t, bh.Readers, "no running service reads it")
	require.Equal(t, map[string]uint64{telegram.UpdatesStream: 1}, st.Streams[1].DeadLetters)

	// Started again, the service reports the consumer in its metrics.
	c.mu.Lock()
	c.running["bot-handler-0"] = true
	c.mu.Unlock()
	st = status()
	require.Equal(t, []string{"bot-handler-0"}, st.Streams[0].Consumers[0].Readers)
	require.EqualValues(t, 4, st.Streams[0].Consumers[0].Pending, "NATS, not the service, says what waits")
}

func TestStatusSaysWhyNATSCannotBeRead(t *testing.T) {
	t.Parallel()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	srv.Stop()
	e := start(t, console.Config{JetStream: js, ProbeTimeout: 300 * time.Millisecond})
	code, body := e.do(http.MethodGet, "/api/status", "")
	require.Equal(t, http.StatusOK, code, "the rest of the page is still served")
	st := decode[console.Status](t, body)
	require.Empty(t, st.Streams)
	require.Contains(t, st.StreamsError, "listing the streams")
}

// TestAWorkerWhoseIterationsFailShowsAsFailing scrapes a real worker
// runtime's metrics: iterations that return an error, as activation's do
// while its VPN panel fails, show as failures, and the worker as failing,
// not as "error 0" beside a count of failed items.
func TestAWorkerWhoseIterationsFailShowsAsFailing(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	panelDown := errors.New("1 of 1 activations failed, retried later; the first: outline: 500")
	w, err := worker.New(worker.Config{Name: localstack.Activation, Interval: 20 * time.Millisecond},
		func(context.Context) (worker.Result, error) { return worker.Result{"failed": 1}, panelDown },
		zerolog.Nop(), reg)
	require.NoError(t, err)
	workertest.Run(t, w)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ops := httptest.NewServer(mux)
	t.Cleanup(ops.Close)
	c := &control{
		services: []localstack.ServiceID{{Name: localstack.Activation, Label: localstack.Activation}},
		running:  map[string]bool{localstack.Activation: true},
		ops:      map[string]string{localstack.Activation: ops.URL},
	}
	e := start(t, console.Config{Control: c})

	var act console.WorkerMetrics
	require.Eventually(t, func() bool {
		_, body := e.do(http.MethodGet, "/api/status", "")
		workers := decode[console.Status](t, body).Services[0].Workers
		if len(workers) != 1 {
			return false
		}
		act = workers[0]
		return act.IterationsTotal[worker.OutcomeError] >= 2
	}, 10*time.Second, 20*time.Millisecond, "no failed iterations shown")
	require.Zero(t, act.IterationsTotal[worker.OutcomeOK])
	require.True(t, act.Failing)
	require.Nil(t, act.LastSuccessAge, "never succeeded")
	require.Equal(t, 1.0, act.LastItems["failed"])
}

func streamNames(streams []console.StreamStatus) []string {
	names := make([]string, len(streams))
	for i, s := range streams {
		names[i] = s.Name
	}
	return names
}

// The page links its streams table and its own styles, and its headings
// say which numbers are counts since start and which are values now.
func TestTheStatusPageLinksItsStreamsTableAndStyles(t *testing.T) {
	t.Parallel()
	e := start(t, console.Config{})
	for _, want := range []struct{ path, text string }{
		{"/status", `href="/static/status.css"`},
		{"/status", `id="streams"`},
		{"/status", "Iterations since start"},
		{"/status", "Items, last iteration"},
		{"/status", "Deliveries since start"},
		{"/static/status.css", "#streams"},
		{"/static/status.js", `"#streams"`},
		{"/static/status.js", "since start"},
	} {
		status, body := e.do(http.MethodGet, want.path, "")
		require.Equal(t, http.StatusOK, status, want.path)
		require.Contains(t, string(body), want.text, want.path)
	}
}
