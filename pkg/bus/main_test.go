package bus_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
)

// spans records every span the package starts: the tests run with tracing
// on, as a service with an OTLP endpoint does, and tell their traces apart
// by trace id.
var spans = tracetest.NewSpanRecorder()

func TestMain(m *testing.M) {
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	goleak.VerifyTestMain(m, bustest.IgnoreClusterShutdownLeaks()...)
}

// newLog returns a logger and the buffer a test reads its lines from.
func newLog() (*obstest.LogBuffer, zerolog.Logger) {
	b := &obstest.LogBuffer{}
	return b, obstest.NewLogger(b)
}

// testStream is the stream the tests consume: subjects test.<partition>,
// a work queue as TG_UPDATES and OUTBOX are.
const testStream = "TESTS"

func testStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       testStream,
		Subjects:   []string{"test.>"},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Duplicates: time.Hour,
	}
}

// testSubject is the subject of partition p of the test stream.
func testSubject(p int) string { return "test." + strconv.Itoa(p) }

// fastConfig is a partitioned consumer's configuration with short timeouts,
// for tests; startConsumer and newConsumer set its handler.
func fastConfig(partitions int) bus.ConsumerConfig {
	return bus.ConsumerConfig{
		Stream:         testStream,
		Subject:        "test",
		Durable:        "tester",
		Mode:           bus.Partitioned,
		Partitions:     partitions,
		HandlerTimeout: time.Second,
		RetryBase:      50 * time.Millisecond,
		RetryMax:       200 * time.Millisecond,
		FetchWait:      300 * time.Millisecond,
	}
}

// setup starts a server with the test stream and returns a JetStream
// handle to it.
func setup(t *testing.T) (*bustest.Server, jetstream.JetStream) {
	t.Helper()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	require.NoError(t, bus.DeclareStreams(context.Background(), js, testStreamConfig()))
	return srv, js
}

// newConsumer is bus.NewConsumer of cfg with h as its handler.
func newConsumer(js jetstream.JetStream, cfg bus.ConsumerConfig, h bus.Handler, log zerolog.Logger, reg prometheus.Registerer) (*bus.Consumer, error) {
	cfg.HandleFunc = h
	return bus.NewConsumer(js, cfg, log, reg)
}

// startConsumer runs a consumer with handler h until the test ends, then
// checks that Run returned nil.
func startConsumer(t *testing.T, js jetstream.JetStream, cfg bus.ConsumerConfig, h bus.Handler, log zerolog.Logger, reg prometheus.Registerer) *bus.Consumer {
	t.Helper()
	c, err := newConsumer(js, cfg, h, log, reg)
	require.NoError(t, err)
	run(t, c)
	return c
}

// run runs c until the test ends, then checks that Run returned nil.
func run(t *testing.T, c *bus.Consumer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func publish(t *testing.T, js jetstream.JetStream, partition int, body, msgID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dup, err := bus.Publish(ctx, js, testSubject(partition), []byte(body), msgID)
	require.NoError(t, err)
	require.False(t, dup, "message %s already in the stream", msgID)
}

// metric returns the value of the series name{labels}, or -1 when there is
// no such series.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := obstest.Metric(t, reg, name, labels)
	if !ok {
		return -1
	}
	return v
}

// requireMetric waits until metric reports want: metrics move just after
// the handler's effects a test can see.
func requireMetric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, want float64) {
	t.Helper()
	require.Eventually(t, func() bool { return metric(t, reg, name, labels) == want }, 5*time.Second, 10*time.Millisecond,
		"%s%v: have %v, want %v", name, labels, metric(t, reg, name, labels), want)
}

// requireLog waits until a log line holds all of parts.
func requireLog(t *testing.T, logs *obstest.LogBuffer, parts ...string) {
	t.Helper()
	require.Eventually(t, func() bool { return len(logs.Lines(parts...)) > 0 }, 5*time.Second, 10*time.Millisecond,
		"no log line with %q in:\n%s", parts, logs)
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func listDLQ(t *testing.T, js jetstream.JetStream) []bus.DLQEntry {
	t.Helper()
	entries, err := bus.ListDLQ(context.Background(), js, testStream, 0)
	require.NoError(t, err)
	return entries
}
