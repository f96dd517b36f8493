package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/obs"
)

var testLabels = map[string]string{"stream": testStream, "consumer": "tester"}

func outcome(o string) map[string]string {
	return map[string]string{"stream": testStream, "consumer": "tester", "outcome": o}
}

// recorder is a handler's record of what it saw.
type recorder struct {
	mu    sync.Mutex
	seen  []bus.Delivery
	times []time.Time
}

func (r *recorder) add(d bus.Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, d)
	r.times = append(r.times, time.Now())
}

func (r *recorder) deliveries() []bus.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bus.Delivery(nil), r.seen...)
}

// bodies lists "<body>#<delivery>" of what the handler saw, in order.
func (r *recorder) bodies() []string {
	var out []string
	for _, d := range r.deliveries() {
		out = append(out, fmt.Sprintf("%s#%d", d.Data, d.NumDelivered))
	}
	return out
}

func (r *recorder) count(body string) int {
	n := 0
	for _, d := range r.deliveries() {
		if string(d.Data) == body {
			n++
		}
	}
	return n
}

func TestConsumerKeepsPartitionOrderAcrossReplicas(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	const partitions, perPartition, replicas = 8, 50, 3
	regs := make([]*prometheus.Registry, replicas) // one per replica, as one per process

	var mu sync.Mutex
	handled := map[int][]int{}
	byReplica := make([]int, replicas)
	for replica := range replicas {
		_, rjs := bustest.Connect(t, srv.URL())
		_, log := newLog()
		regs[replica] = prometheus.NewRegistry()
		startConsumer(t, rjs, fastConfig(partitions), func(_ context.Context, d bus.Delivery) error {
			p, i, ok := strings.Cut(string(d.Data), ":")
			require.True(t, ok)
			require.Equal(t, strconv.Itoa(d.Partition), p)
			n, err := strconv.Atoi(i)
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			handled[d.Partition] = append(handled[d.Partition], n)
			byReplica[replica]++
			return nil
		}, log, regs[replica])
	}
	for i := 1; i <= perPartition; i++ {
		for p := range partitions {
			publish(t, js, p, fmt.Sprintf("%d:%d", p, i), fmt.Sprintf("bot1:%d:%d", p, i))
		}
	}

	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, h := range handled {
			n += len(h)
		}
		return n
	}
	require.Eventually(t, func() bool { return total() >= partitions*perPartition }, 30*time.Second, 20*time.Millisecond)
	want := make([]int, perPartition)
	for i := range want {
		want[i] = i + 1
	}
	mu.Lock()
	for p := range partitions {
		require.Equal(t, want, handled[p], "partition %d: handled out of order, twice or not at all", p)
	}
	busy := 0
	for _, n := range byReplica {
		if n > 0 {
			busy++
		}
	}
	mu.Unlock()
	require.GreaterOrEqual(t, busy, 2, "replicas must share the partitions' work: %v", byReplica)
	require.Eventually(t, func() bool { return streamMsgs(t, js, testStream) == 0 }, 5*time.Second, 20*time.Millisecond,
		"acknowledged updates leave the work queue")
	require.Eventually(t, func() bool {
		var ok float64
		for _, reg := range regs {
			ok += metric(t, reg, "vpnbot_consumer_messages_total", outcome("ok"))
		}
		return ok == partitions*perPartition
	}, 5*time.Second, 10*time.Millisecond, "every update counted once as ok")
	// Redeliveries are not counted against it: a fetch that ends just as
	// the server sends drops that message, which comes back after AckWait
	// (3 s, longer than this test) — once, as the lists above show.
	for replica, reg := range regs {
		require.Eventually(t, func() bool { return metric(t, reg, "vpnbot_consumer_pending", testLabels) == 0 },
			5*time.Second, 20*time.Millisecond, "replica %d still reports a lag after the backlog is gone", replica)
	}
}

func TestConsumerRetriesFailedMessageBeforeLaterOnes(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	before := time.Now()
	for _, b := range []string{"1", "2", "3"} {
		publish(t, js, 0, b, "bot1:"+b)
	}
	after := time.Now()
	reg := prometheus.NewRegistry()
	var rec recorder
	logs, log := newLog()
	r, err := newConsumer(js, fastConfig(1), func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		if string(d.Data) == "1" && d.NumDelivered == 1 {
			return errors.New("connection reset by peer")
		}
		return nil
	}, log, reg)
	require.NoError(t, err)
	require.ErrorContains(t, r.Ready(context.Background()), "not running")
	require.NoError(t, r.Live(context.Background()), "a consumer that is not running is not stuck")
	run(t, r)
	require.Eventually(t, func() bool { return r.Ready(context.Background()) == nil }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(rec.deliveries()) >= 4 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"1#1", "1#2", "2#1", "3#1"}, rec.bodies(),
		"a retried message must be handled again before the later messages of its partition")
	seen := rec.deliveries()
	require.WithinRange(t, seen[0].Published, before.Add(-time.Second), after.Add(time.Second), "Published is when the stream stored it")
	require.Equal(t, seen[0].Published, seen[1].Published, "a redelivery keeps the time the message was stored")
	requireMetric(t, reg, "vpnbot_consumer_messages_total", outcome("retry"), 1)
	requireMetric(t, reg, "vpnbot_consumer_messages_total", outcome("ok"), 3)
	requireMetric(t, reg, "vpnbot_consumer_redeliveries_total", testLabels, 1)
	require.Len(t, logs.Lines(`"level":"warn"`, "connection reset by peer", `"stream_seq":1`), 1)
	require.Empty(t, listDLQ(t, js))
}

func TestConsumerWaitsTheDelayAskedByRetryAfter(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	publish(t, js, 0, "flooded", "bot1:flooded")
	const asked = 1500 * time.Millisecond
	var rec recorder
	_, log := newLog()
	// Messages in hand are kept in progress every 100ms: not one of those
	// may reach the server after the delayed nak and cut its delay short.
	cfg := fastConfig(1)
	cfg.AckWait = 300 * time.Millisecond
	r, err := newConsumer(js, cfg, func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		if d.NumDelivered == 1 {
			return bus.RetryAfter(errors.New("429 Too Many Requests: retry after 2"), asked)
		}
		return nil
	}, log, prometheus.NewRegistry())
	require.NoError(t, err)
	run(t, r)
	require.Eventually(t, func() bool { return len(rec.deliveries()) >= 2 }, 10*time.Second, 10*time.Millisecond)
	rec.mu.Lock()
	gap := rec.times[1].Sub(rec.times[0])
	rec.mu.Unlock()
	require.GreaterOrEqual(t, gap, asked, "the retry came before the delay the handler asked for")
	require.Nil(t, bus.RetryAfter(nil, time.Second))
}

// TestConsumerRedeliversADeadReplicasMessageWithinAckWait: a replica that
// dies mid-handler (its connection gone, as with SIGKILL) stops keeping its
// message in progress, so another replica gets it after AckWait, not after
// the handler's deadline; while the handler was alive, well past AckWait,
// the message stayed with it.
func TestConsumerRedeliversADeadReplicasMessageWithinAckWait(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	cfg := fastConfig(1)
	cfg.HandlerTimeout = time.Minute
	cfg.AckWait = 600 * time.Millisecond

	deadNC, deadJS := bustest.Connect(t, srv.URL())
	picked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	_, log := newLog()
	startConsumer(t, deadJS, cfg, func(ctx context.Context, d bus.Delivery) error {
		once.Do(func() { close(picked) })
		select {
		case <-release:
		case <-ctx.Done():
		}
		return errors.New("this replica is dead")
	}, log, prometheus.NewRegistry())
	t.Cleanup(func() { close(release) })
	publish(t, js, 0, "held", "bot1:held")
	<-picked

	var rec recorder
	liveReg := prometheus.NewRegistry()
	startConsumer(t, js, cfg, func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		return nil
	}, log, liveReg)
	time.Sleep(5 * cfg.AckWait)
	require.Empty(t, rec.deliveries(), "a live handler's message went to another replica")

	deadNC.Close()
	died := time.Now()
	require.Eventually(t, func() bool { return len(rec.deliveries()) == 1 }, 15*time.Second, 10*time.Millisecond,
		"the dead replica's message was not redelivered")
	rec.mu.Lock()
	waited := rec.times[0].Sub(died)
	rec.mu.Unlock()
	t.Logf("redelivered %s after the replica died (AckWait %s, handler deadline %s)", waited, cfg.AckWait, cfg.HandlerTimeout)
	require.EqualValues(t, 2, rec.deliveries()[0].NumDelivered)
	require.Less(t, waited, cfg.HandlerTimeout/4, "the message waited for the handler's deadline, not for AckWait")
}

func TestConsumerDeadLettersAfterMaxDeliver(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	reg := prometheus.NewRegistry()
	logs, log := newLog()
	cfg := fastConfig(1)
	cfg.MaxDeliver = 3
	var rec recorder
	startConsumer(t, js, cfg, func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		return errors.New("db exploded")
	}, log, reg)

	_, err := js.PublishMsg(context.Background(), &nats.Msg{
		Subject: testSubject(0),
		Data:    []byte(`{"update_id":77}`),
		Header:  nats.Header{"Nats-Msg-Id": []string{"bot1:77"}, "Trace-Id": []string{"abc"}},
	})
	require.NoError(t, err)

	require.Eventually(t, func() bool { return len(listDLQ(t, js)) == 1 }, 10*time.Second, 20*time.Millisecond)
	e := listDLQ(t, js)[0]
	require.Equal(t, bus.DLQReasonMaxDeliver, e.Reason)
	require.Equal(t, "db exploded", e.Error)
	require.Equal(t, testStream, e.Stream)
	require.Equal(t, "test.0", e.Subject)
	require.Equal(t, "bot1:77", e.MsgID)
	require.Equal(t, 3, e.Deliveries)
	require.Equal(t, `{"update_id":77}`, string(e.Data))
	require.WithinDuration(t, time.Now(), e.Time, time.Minute)

	dlq, err := js.Stream(context.Background(), bus.StreamDLQ)
	require.NoError(t, err)
	raw, err := dlq.GetMsg(context.Background(), e.Seq)
	require.NoError(t, err)
	require.Equal(t, "dlq.TESTS", raw.Subject)
	require.Equal(t, "abc", raw.Header.Get("Trace-Id"), "the original headers travel with the dead letter")
	require.Equal(t, "1", raw.Header.Get(bus.HeaderDLQStreamSeq))
	require.Equal(t, "TESTS:1", raw.Header.Get(nats.MsgIdHdr))

	require.Eventually(t, func() bool { return streamMsgs(t, js, testStream) == 0 }, 5*time.Second, 20*time.Millisecond,
		"the dead-lettered message is terminated, not left in the work queue")
	require.Equal(t, []string{`{"update_id":77}#1`, `{"update_id":77}#2`, `{"update_id":77}#3`}, rec.bodies())
	requireMetric(t, reg, "vpnbot_consumer_messages_total", outcome("dlq"), 1)
	requireMetric(t, reg, "vpnbot_consumer_messages_total", outcome("retry"), 2)
	requireLog(t, logs, bus.EventDeadLettered, bus.DLQReasonMaxDeliver)
}

func TestConsumerDeadLettersPermanentErrorAtOnce(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	errBadJSON := errors.New("unexpected end of JSON input")
	var rec recorder
	_, log := newLog()
	startConsumer(t, js, fastConfig(1), func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		if string(d.Data) == "bad" {
			return fmt.Errorf("decoding update: %w", bus.Permanent(errBadJSON))
		}
		return nil
	}, log, nil)
	publish(t, js, 0, "bad", "bot1:1")
	publish(t, js, 0, "good", "bot1:2")

	require.Eventually(t, func() bool { return rec.count("good") == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"bad#1", "good#1"}, rec.bodies(), "a permanent error is never retried")
	entries := listDLQ(t, js)
	require.Len(t, entries, 1)
	require.Equal(t, bus.DLQReasonPermanent, entries[0].Reason)
	require.Equal(t, "decoding update: unexpected end of JSON input", entries[0].Error)
	require.Equal(t, 1, entries[0].Deliveries)
}

func TestMarkedErrorsWrapTheirCauseAndNilStaysNil(t *testing.T) {
	t.Parallel()
	base := errors.New("bad")
	for _, mark := range []func(error) error{bus.Permanent, bus.Exhausted, bus.Release,
		func(err error) error { return bus.RetryAfter(err, time.Second) }} {
		require.NoError(t, mark(nil))
		require.ErrorIs(t, mark(base), base)
		require.Equal(t, "bad", mark(base).Error())
	}
}

func TestConsumerGivesUpHungHandlerAndMovesOn(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	reg := prometheus.NewRegistry()
	logs, log := newLog()
	cfg := fastConfig(1) // HandlerTimeout 1s
	release := make(chan struct{})
	var releaseOnce sync.Once
	unhang := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unhang) // so the abandoned goroutine ends before goleak looks
	var rec recorder
	r := startConsumer(t, js, cfg, func(ctx context.Context, d bus.Delivery) error {
		rec.add(d)
		if string(d.Data) == "hang" {
			<-release // ignores ctx, like a call without a timeout
		}
		return nil
	}, log, reg)
	publish(t, js, 0, "hang", "bot1:1")
	publish(t, js, 0, "next", "bot1:2")

	require.Eventually(t, func() bool { return rec.count("next") == 1 }, 10*time.Second, 10*time.Millisecond)
	rec.mu.Lock()
	waited := rec.times[1].Sub(rec.times[0])
	rec.mu.Unlock()
	require.GreaterOrEqual(t, waited, cfg.HandlerTimeout, "the handler gets its whole deadline")
	require.Less(t, waited, cfg.HandlerTimeout+time.Second, "the partition moves on within deadline + 1s")

	timeouts := logs.Lines(obs.EventHandlerTimeout)
	require.Len(t, timeouts, 1, logs.String())
	require.Contains(t, timeouts[0], `"subject":"test.0"`)
	require.Contains(t, timeouts[0], `"stream_seq":1`)
	require.Contains(t, timeouts[0], `"deliveries":1`)
	entries := listDLQ(t, js)
	require.Len(t, entries, 1)
	require.Equal(t, bus.DLQReasonTimeout, entries[0].Reason)
	require.Equal(t, "hang", string(entries[0].Data))
	require.EqualValues(t, 1, metric(t, reg, "vpnbot_consumer_abandoned_handlers", testLabels))
	require.EqualValues(t, 1, metric(t, reg, "vpnbot_consumer_messages_total", outcome("timeout")))
	require.Eventually(t, func() bool { return streamMsgs(t, js, testStream) == 0 }, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, 1, rec.count("hang"), "a given-up message is not redelivered")
	require.NoError(t, r.Live(context.Background()))

	unhang()
	require.Eventually(t, func() bool {
		return metric(t, reg, "vpnbot_consumer_abandoned_handlers", testLabels) == 0
	}, 5*time.Second, 10*time.Millisecond, "a late-returning handler leaves the abandoned gauge")
}

func TestConsumerCountsAHandlerFailingAtItsDeadlineAsATimeout(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	reg := prometheus.NewRegistry()
	logs, log := newLog()
	var rec recorder
	startConsumer(t, js, fastConfig(1), func(ctx context.Context, d bus.Delivery) error {
		rec.add(d)
		if string(d.Data) == "slow" {
			<-ctx.Done() // a well-behaved handler: gives up with its ctx
			return fmt.Errorf("calling Telegram: %w", ctx.Err())
		}
		return nil
	}, log, reg)
	publish(t, js, 0, "slow", "bot1:1")
	publish(t, js, 0, "next", "bot1:2")

	require.Eventually(t, func() bool { return rec.count("next") == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Len(t, logs.Lines(obs.EventHandlerTimeout), 1, logs.String())
	entries := listDLQ(t, js)
	require.Len(t, entries, 1)
	require.Equal(t, bus.DLQReasonTimeout, entries[0].Reason, "not retried: it would most likely hang again")
	require.Equal(t, 1, rec.count("slow"))
}

func TestConsumerGateClosedConsumesNoDeliveries(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	reg := prometheus.NewRegistry()
	logs, log := newLog()
	var dbDown atomic.Bool
	dbDown.Store(true)
	cfg := fastConfig(1)
	cfg.GateFunc = func(context.Context) error {
		if dbDown.Load() {
			return errors.New("postgres: connection refused")
		}
		return nil
	}
	var rec recorder
	r := startConsumer(t, js, cfg, func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		if string(d.Data) == "outage-starts" && d.NumDelivered == 1 {
			dbDown.Store(true) // the database goes away while this update is handled
			return errors.New("connection reset by peer")
		}
		return nil
	}, log, reg)
	publish(t, js, 0, "a", "bot1:1")

	ctx := context.Background()
	require.Eventually(t, func() bool {
		err := r.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), "connection refused")
	}, 5*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 1, metric(t, reg, "vpnbot_consumer_gate_closed", testLabels))
	require.Eventually(t, func() bool { return metric(t, reg, "vpnbot_consumer_pending", testLabels) == 1 },
		5*time.Second, 20*time.Millisecond, "the backlog shows while the gate is closed")
	require.Never(t, func() bool { return len(rec.deliveries()) > 0 }, 700*time.Millisecond, 20*time.Millisecond)
	info, err := js.Consumer(ctx, testStream, "tester-0")
	require.NoError(t, err)
	ci, err := info.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0, ci.Delivered.Consumer, "nothing is delivered while the gate is closed")
	require.EqualValues(t, 1, ci.NumPending)
	require.NotEmpty(t, logs.Lines(bus.EventGateClosed))

	dbDown.Store(false)
	require.Eventually(t, func() bool { return len(rec.deliveries()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"a#1"}, rec.bodies())
	require.Eventually(t, func() bool { return r.Ready(ctx) == nil }, 5*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 0, metric(t, reg, "vpnbot_consumer_gate_closed", testLabels))

	// An outage that starts during a handler: the failed delivery is retried
	// once the database is back, not burned against MaxDeliver meanwhile.
	publish(t, js, 0, "outage-starts", "bot1:2")
	require.Eventually(t, func() bool { return len(rec.deliveries()) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.Never(t, func() bool { return len(rec.deliveries()) > 2 }, 700*time.Millisecond, 20*time.Millisecond)
	dbDown.Store(false)
	require.Eventually(t, func() bool { return len(rec.deliveries()) == 3 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"a#1", "outage-starts#1", "outage-starts#2"}, rec.bodies())
	require.Empty(t, listDLQ(t, js))
}

func TestConsumerRecreatesDeletedConsumer(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	logs, log := newLog()
	var rec recorder
	startConsumer(t, js, fastConfig(1), func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		return nil
	}, log, nil)
	publish(t, js, 0, "1", "bot1:1")
	require.Eventually(t, func() bool { return len(rec.deliveries()) == 1 }, 5*time.Second, 10*time.Millisecond)
	// The handler has run; its acknowledgement may still be on its way, and
	// a message not yet acknowledged when its consumer goes is delivered
	// again to the next one. Delete the consumer once the work queue has
	// dropped the message.
	require.Eventually(t, func() bool {
		st, err := js.Stream(context.Background(), testStream)
		return err == nil && st.CachedInfo().State.Msgs == 0
	}, 5*time.Second, 10*time.Millisecond, "the message was acknowledged")

	require.NoError(t, js.DeleteConsumer(context.Background(), testStream, "tester-0"))
	publish(t, js, 0, "2", "bot1:2")
	require.Eventually(t, func() bool { return len(rec.deliveries()) == 2 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"1#1", "2#1"}, rec.bodies())
	requireLog(t, logs, bus.EventConsumerRedeclared)
}

func TestConsumerSurvivesNATSRestart(t *testing.T) {
	t.Parallel()
	srv := bustest.NewServer(t)
	logs, log := newLog()
	ctx := context.Background()
	nc, js, err := bus.Connect(ctx, srv.URL(), "bot-handler", log)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	require.NoError(t, bus.DeclareStreams(ctx, js, testStreamConfig()))
	ready := bus.Ready(nc)
	require.NoError(t, ready(ctx))

	var rec recorder
	r := startConsumer(t, js, fastConfig(2), func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		return nil
	}, log, nil)
	_, pubJS := bustest.Connect(t, srv.URL())
	publish(t, pubJS, 0, "before", "bot1:1")
	require.Eventually(t, func() bool { return rec.count("before") == 1 }, 5*time.Second, 10*time.Millisecond)

	srv.Stop()
	require.Eventually(t, func() bool { return ready(ctx) != nil }, 5*time.Second, 10*time.Millisecond)
	requireLog(t, logs, bus.EventNATSDisconnected)

	srv.Restart()
	require.Eventually(t, func() bool { return ready(ctx) == nil }, 10*time.Second, 20*time.Millisecond)
	requireLog(t, logs, bus.EventNATSReconnected)
	require.Eventually(t, func() bool {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := bus.Publish(pctx, pubJS, testSubject(1), []byte("after"), "bot1:2")
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	publish(t, pubJS, 0, "after-0", "bot1:3")
	require.Eventually(t, func() bool { return rec.count("after") == 1 && rec.count("after-0") == 1 },
		15*time.Second, 20*time.Millisecond)
	require.NoError(t, r.Live(ctx))
	require.NoError(t, r.Ready(ctx))
}

func TestConnectBeforeNATSIsUp(t *testing.T) {
	t.Parallel()
	srv := bustest.NewServer(t)
	srv.Stop()
	logs, log := newLog()
	ctx := context.Background()
	nc, js, err := bus.Connect(ctx, srv.URL(), "gateway", log)
	require.NoError(t, err, "a service starts before NATS")
	t.Cleanup(nc.Close)
	require.Error(t, bus.Ready(nc)(ctx))
	require.NotEmpty(t, logs.Lines(bus.EventNATSDisconnected))

	srv.Restart()
	require.Eventually(t, func() bool { return bus.Ready(nc)(ctx) == nil }, 10*time.Second, 20*time.Millisecond)
	requireLog(t, logs, bus.EventNATSConnected)
	require.NoError(t, bus.DeclareStreams(ctx, js, testStreamConfig()))
	dup, err := bus.Publish(ctx, js, testSubject(0), []byte("x"), "bot1:1")
	require.NoError(t, err)
	require.False(t, dup)
}

func TestNewConsumerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	noop := func(context.Context, bus.Delivery) error { return nil }
	_, err := bus.NewConsumer(js, bus.ConsumerConfig{Stream: testStream, Mode: bus.Partitioned, HandleFunc: noop}, zerolog.Nop(), nil)
	require.ErrorContains(t, err, "Subject is empty")
	require.ErrorContains(t, err, "Partitions is 0")
	_, err = bus.NewConsumer(js, bus.ConsumerConfig{Stream: testStream, Subject: "test", Durable: "x", Mode: bus.Shared}, zerolog.Nop(), nil)
	require.ErrorContains(t, err, "exactly one of HandleFunc and HoldFunc")
	_, err = bus.NewConsumer(js, bus.ConsumerConfig{Stream: testStream, Subject: "test", Durable: "x", Partitions: 1,
		Mode: bus.Partitioned, HoldFunc: func(bus.Delivery, func(error)) {}}, zerolog.Nop(), nil)
	require.ErrorContains(t, err, "HoldFunc needs the Shared mode")
}

func TestConsumerKeepsMessageWhenDLQRejectsIt(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	ctx := context.Background()
	logs, log := newLog()
	var rec recorder
	r := startConsumer(t, js, fastConfig(1), func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		return bus.Permanent(errors.New("unknown command"))
	}, log, nil)
	require.Eventually(t, func() bool { return r.Ready(ctx) == nil }, 5*time.Second, 10*time.Millisecond)

	// The DLQ is full and refuses new messages.
	dlq, err := js.Stream(ctx, bus.StreamDLQ)
	require.NoError(t, err)
	cfg := dlq.CachedInfo().Config
	cfg.MaxMsgs, cfg.Discard = 1, jetstream.DiscardNew
	_, err = js.UpdateStream(ctx, cfg)
	require.NoError(t, err)
	_, err = js.Publish(ctx, bus.DLQSubject("OUTBOX"), []byte("filler"))
	require.NoError(t, err)

	publish(t, js, 0, "poison", "bot1:1")
	requireLog(t, logs, bus.EventDLQPublishFailed, `"stream_seq":1`)
	require.Eventually(t, func() bool { return rec.count("poison") >= 2 }, 5*time.Second, 10*time.Millisecond,
		"a message the DLQ refused is delivered again, not dropped")
	require.Empty(t, listDLQ(t, js))

	require.NoError(t, dlq.DeleteMsg(ctx, 1)) // room again
	require.Eventually(t, func() bool { return len(listDLQ(t, js)) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return streamMsgs(t, js, testStream) == 0 }, 5*time.Second, 10*time.Millisecond)
}
