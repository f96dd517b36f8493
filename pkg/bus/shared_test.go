package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
)

// sharedConfig is a shared consumer of every subject of the test stream.
func sharedConfig(durable string, inFlight int) bus.ConsumerConfig {
	return bus.ConsumerConfig{
		Stream:         testStream,
		Subject:        "test.>",
		Durable:        durable,
		Mode:           bus.Shared,
		MaxInFlight:    inFlight,
		HandlerTimeout: time.Second,
		RetryBase:      50 * time.Millisecond,
		RetryMax:       200 * time.Millisecond,
		FetchWait:      300 * time.Millisecond,
	}
}

func labels(durable string) map[string]string {
	return map[string]string{"stream": testStream, "consumer": durable}
}

func TestSharedConsumerHandlesEachMessageOnceAcrossReplicasInParallel(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	const replicas, messages, inFlight = 2, 60, 4
	var mu sync.Mutex
	seen := map[string]int{}
	var running, most atomic.Int32
	regs := make([]*prometheus.Registry, replicas)
	for r := range replicas {
		_, rjs := bustest.Connect(t, srv.URL())
		_, log := newLog()
		regs[r] = prometheus.NewRegistry()
		startConsumer(t, rjs, sharedConfig("events", inFlight), func(_ context.Context, d bus.Delivery) error {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(20 * time.Millisecond) // a handler doing work
			mu.Lock()
			defer mu.Unlock()
			seen[string(d.Data)]++
			return nil
		}, log, regs[r])
	}
	for i := range messages {
		publish(t, js, i%8, fmt.Sprintf("m%d", i), fmt.Sprintf("id:%d", i))
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == messages
	}, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return streamMsgs(t, js, testStream) == 0 }, 5*time.Second, 20*time.Millisecond)
	mu.Lock()
	for body, n := range seen {
		require.Equal(t, 1, n, "%s handled %d times", body, n)
	}
	mu.Unlock()
	require.Greater(t, most.Load(), int32(inFlight), "two replicas of %d slots each never ran more than %d handlers at once", inFlight, most.Load())
	require.LessOrEqual(t, most.Load(), int32(replicas*inFlight), "MaxInFlight was not respected")
	var ok float64
	for _, reg := range regs {
		ok += metric(t, reg, "vpnbot_consumer_messages_total", map[string]string{"stream": testStream, "consumer": "events", "outcome": "ok"})
	}
	require.EqualValues(t, messages, ok)
}

func TestConsumerDeadLettersAPanicWithItsStackAndMovesOn(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	logs, log := newLog()
	reg := prometheus.NewRegistry()
	var rec recorder
	c := startConsumer(t, js, fastConfig(1), func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		if string(d.Data) == "poison" {
			var m map[string]int
			m["boom"]++ // a nil map: the handler panics
		}
		return nil
	}, log, reg)
	publish(t, js, 0, "poison", "bot1:1")
	publish(t, js, 0, "after", "bot1:2")

	require.Eventually(t, func() bool { return rec.count("after") == 1 }, 10*time.Second, 10*time.Millisecond,
		"the partition must move on past the panicking message")
	require.Equal(t, 1, rec.count("poison"), "a panic is a poison message: not retried")
	dead := listDLQ(t, js)
	require.Len(t, dead, 1)
	require.Equal(t, bus.DLQReasonPermanent, dead[0].Reason)
	require.Contains(t, dead[0].Error, "handler panicked: assignment to entry in nil map")
	require.Equal(t, "poison", string(dead[0].Data))
	require.Contains(t, dead[0].Stack, "shared_test.go", "the dead letter carries the panicking handler's stack")
	require.Greater(t, strings.Count(dead[0].Stack, "\n"), 3, "the stack keeps its lines")
	requireLog(t, logs, bus.EventHandlerPanic, "assignment to entry in nil map")
	requireMetric(t, reg, "vpnbot_consumer_messages_total", outcome("dlq"), 1)
	require.NoError(t, c.Live(context.Background()), "the consumer lives on")
}

func TestUnlimitedConsumerRetriesTimeoutsAndFailuresButNotPermanentErrors(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	_, log := newLog()
	reg := prometheus.NewRegistry()
	cfg := sharedConfig("payments", 1)
	cfg.MaxDeliver = bus.Unlimited
	cfg.HandlerTimeout = 200 * time.Millisecond
	var rec recorder
	startConsumer(t, js, cfg, func(ctx context.Context, d bus.Delivery) error {
		rec.add(d)
		switch {
		case string(d.Data) == "malformed":
			return bus.Permanent(errors.New("not a payment"))
		case d.NumDelivered == 1:
			<-ctx.Done() // hangs until its deadline
			return ctx.Err()
		case d.NumDelivered < 12:
			return errors.New("database is down")
		}
		return nil
	}, log, reg)
	publish(t, js, 0, "payment", "pay:1")
	publish(t, js, 1, "malformed", "pay:2")

	require.Eventually(t, func() bool { return rec.count("payment") == 12 }, 20*time.Second, 20*time.Millisecond,
		"a payment past its deadline and past the usual MaxDeliver is still retried")
	require.Eventually(t, func() bool { return streamMsgs(t, js, testStream) == 0 }, 5*time.Second, 20*time.Millisecond)
	dead := listDLQ(t, js)
	require.Len(t, dead, 1, "only the permanent error is dead-lettered")
	require.Equal(t, "malformed", string(dead[0].Data))
	requireMetric(t, reg, "vpnbot_consumer_messages_total", map[string]string{"stream": testStream, "consumer": "payments", "outcome": "timeout"}, 1)
	requireMetric(t, reg, "vpnbot_consumer_messages_total", map[string]string{"stream": testStream, "consumer": "payments", "outcome": "ok"}, 1)
}

// holder is a HoldFunc keeping what it was given until the test settles it.
type holder struct {
	mu      sync.Mutex
	order   []string
	settles map[string]func(error)
}

func (h *holder) hold(d bus.Delivery, settle func(error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.order = append(h.order, fmt.Sprintf("%s#%d", d.Data, d.NumDelivered))
	h.settles[string(d.Data)] = settle
}

func (h *holder) settle(t *testing.T, body string, err error) {
	t.Helper()
	h.mu.Lock()
	s := h.settles[body]
	delete(h.settles, body)
	h.mu.Unlock()
	require.NotNil(t, s, "%s is not held", body)
	s(err)
}

// releaseAll gives back everything still held.
func (h *holder) releaseAll() {
	h.mu.Lock()
	rest := make([]func(error), 0, len(h.settles))
	for _, s := range h.settles {
		rest = append(rest, s)
	}
	h.settles = map[string]func(error){}
	h.mu.Unlock()
	for _, s := range rest {
		s(bus.Release(errors.New("stopping")))
	}
}

func (h *holder) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.order...)
}

func TestHeldMessagesComeInStreamOrderStayInProgressAndSettleLater(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	logs, log := newLog()
	reg := prometheus.NewRegistry()
	h := &holder{settles: map[string]func(error){}}
	cfg := sharedConfig("sender", 50)
	cfg.HandleFunc, cfg.HoldFunc = nil, h.hold
	cfg.HandlerTimeout = bus.NoDeadline
	cfg.AckWait = 2 * time.Second
	cfg.MaxDeliver = bus.Unlimited
	c, err := bus.NewConsumer(js, cfg, log, reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		h.releaseAll()
		<-done
	})

	var want []string
	for i := range 30 {
		body := fmt.Sprintf("c%02d", i)
		publish(t, js, i%5, body, "id:"+body)
		want = append(want, body+"#1")
	}
	require.Eventually(t, func() bool { return len(h.seen()) == 30 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, want, h.seen(), "held in the order the stream stored them")

	// Held twice AckWait: kept in progress, not redelivered.
	time.Sleep(2 * cfg.AckWait)
	require.Len(t, h.seen(), 30, "a held message was redelivered: %v", h.seen())
	requireMetric(t, reg, "vpnbot_consumer_redeliveries_total", labels("sender"), 0)

	h.settle(t, "c00", nil)
	h.settle(t, "c01", bus.Exhausted(errors.New("telegram sendMessage: 502 Bad Gateway")))
	h.settle(t, "c02", bus.Release(errors.New("leadership lost")))
	require.Eventually(t, func() bool { return len(h.seen()) == 31 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "c02#2", h.seen()[30], "a released message comes back at once")
	dead := listDLQ(t, js)
	require.Len(t, dead, 1)
	require.Equal(t, bus.DLQReasonMaxDeliver, dead[0].Reason, "a handler's own retries exhausted")
	require.Equal(t, "c01", string(dead[0].Data))
	requireLog(t, logs, bus.EventDeadLettered, `"stream_seq":2`)

	// Run returns only once everything held is settled.
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while messages were still held")
	case <-time.After(300 * time.Millisecond):
	}
	h.releaseAll()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return once everything was settled")
	}
	done <- nil
	require.EqualValues(t, 28, streamMsgs(t, js, testStream), "given back, not lost")
}

func TestConsumerExportsPendingAndAckPending(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	_, log := newLog()
	reg := prometheus.NewRegistry()
	for i := range 3 {
		publish(t, js, 0, fmt.Sprintf("m%d", i), fmt.Sprintf("id:%d", i))
	}
	var dbUp, failing atomic.Bool
	cfg := sharedConfig("lagging", 1)
	cfg.MaxDeliver = bus.Unlimited
	cfg.RetryBase, cfg.RetryMax = time.Hour, time.Hour // a failed message waits for its redelivery
	cfg.GateFunc = func(context.Context) error {
		if !dbUp.Load() {
			return errors.New("database is down")
		}
		return nil
	}
	startConsumer(t, js, cfg, func(_ context.Context, d bus.Delivery) error {
		if failing.Load() {
			return errors.New("database is down")
		}
		return nil
	}, log, reg)
	requireMetric(t, reg, "vpnbot_consumer_pending", labels("lagging"), 3)

	dbUp.Store(true)
	requireMetric(t, reg, "vpnbot_consumer_pending", labels("lagging"), 0)
	requireMetric(t, reg, "vpnbot_consumer_ack_pending", labels("lagging"), 0)

	failing.Store(true)
	publish(t, js, 1, "stuck", "id:stuck")
	requireMetric(t, reg, "vpnbot_consumer_ack_pending", labels("lagging"), 1)
	requireMetric(t, reg, "vpnbot_consumer_pending", labels("lagging"), 0)
}

func TestNewConsumerStartsAtNewMessagesWithDeliverNew(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	_, log := newLog()
	ctx := context.Background()
	// Wake-ups are kept by age, not until acknowledged: a work queue takes
	// no consumer that skips its backlog.
	require.NoError(t, bus.DeclareStreams(ctx, js, jetstream.StreamConfig{
		Name: "WAKEUPS", Subjects: []string{"wake.>"}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
	}))
	_, err := bus.Publish(ctx, js, "wake.1", []byte("old"), "id:old")
	require.NoError(t, err)
	cfg := sharedConfig("waker", 1)
	cfg.Stream, cfg.Subject, cfg.DeliverNew = "WAKEUPS", "wake.>", true
	var rec recorder
	c := startConsumer(t, js, cfg, func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		return nil
	}, log, nil)
	require.Eventually(t, func() bool { return c.Ready(ctx) == nil }, 5*time.Second, 10*time.Millisecond)
	_, err = bus.Publish(ctx, js, "wake.1", []byte("new"), "id:new")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return rec.count("new") == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Zero(t, rec.count("old"), "a wake-up stored before the consumer existed is not delivered")
	info, err := js.Consumer(ctx, "WAKEUPS", "waker")
	require.NoError(t, err)
	require.Equal(t, jetstream.DeliverNewPolicy, info.CachedInfo().Config.DeliverPolicy)
}
