package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
)

// declareOnCluster declares streams, waiting while a young cluster is not
// ready for them yet, as the service skeleton's retries do.
func declareOnCluster(t *testing.T, js jetstream.JetStream, streams ...jetstream.StreamConfig) {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err = bus.DeclareStreams(ctx, js, streams...)
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "declaring %v", err)
}

// replicaCount is bustest.Replicas under the test's context.
func replicaCount(t *testing.T, js jetstream.JetStream, stream string) int {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return bustest.Replicas(ctx, js, stream)
}

// consumerReplicaCount is bustest.ConsumerReplicas under the test's context.
func consumerReplicaCount(t *testing.T, js jetstream.JetStream, stream, durable string) int {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return bustest.ConsumerReplicas(ctx, js, stream, durable)
}

// TestReplicasHoldForStreamsConsumersAndTheDLQ declares a stream on three
// servers of a cluster, as STREAM_REPLICAS=3 has every service do: its
// consumers and the DLQ they write to follow it onto three servers, and
// when an operator scales the stream down by hand, the next declaration
// puts it back, the consumers with it.
func TestReplicasHoldForStreamsConsumersAndTheDLQ(t *testing.T) {
	t.Parallel()
	c := bustest.NewCluster(t, 3)
	_, js := bustest.Connect(t, c.URL())
	declareOnCluster(t, js, bus.WithReplicas(3, testStreamConfig())...)
	require.Equal(t, 3, replicaCount(t, js, testStream))

	_, log := newLog()
	startConsumer(t, js, fastConfig(2), func(context.Context, bus.Delivery) error { return nil }, log, prometheus.NewRegistry())
	durable := fastConfig(2).Durable + "-0"
	require.Eventually(t, func() bool { return consumerReplicaCount(t, js, testStream, durable) == 3 },
		20*time.Second, 50*time.Millisecond, "a durable declared without Replicas is kept as its stream is")
	require.Equal(t, 3, replicaCount(t, js, bus.StreamDLQ), "the consumer declares the DLQ as safe as what it reads")

	s, err := js.Stream(t.Context(), testStream)
	require.NoError(t, err)
	scaled := s.CachedInfo().Config
	scaled.Replicas = 1
	_, err = js.UpdateStream(t.Context(), scaled)
	require.NoError(t, err, "an operator scales the stream down")
	require.Eventually(t, func() bool { return replicaCount(t, js, testStream) == 1 }, 20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { return consumerReplicaCount(t, js, testStream, durable) == 1 },
		20*time.Second, 50*time.Millisecond, "the durable follows the stream down")

	declareOnCluster(t, js, bus.WithReplicas(3, testStreamConfig())...)
	require.Eventually(t, func() bool { return replicaCount(t, js, testStream) == 3 }, 20*time.Second, 50*time.Millisecond,
		"the next declaration puts the replicas back")
	require.Eventually(t, func() bool { return consumerReplicaCount(t, js, testStream, durable) == 3 },
		20*time.Second, 50*time.Millisecond, "and the durable follows it up again")
}

func TestReplicasALoneServerCannotKeepAreRefused(t *testing.T) {
	t.Parallel()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	err := bus.DeclareStreams(t.Context(), js, bus.WithReplicas(3, testStreamConfig())...)
	require.ErrorContains(t, err, "declaring stream "+testStream)
	require.ErrorContains(t, err, "replicas")
}

// acked is what a publisher that retries until acknowledged (the gateway
// and Telegram together) saw: each message's acknowledgement, in order.
type acked struct {
	mu    sync.Mutex
	ids   []string
	times []time.Time
}

func (a *acked) add(id string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ids = append(a.ids, id)
	a.times = append(a.times, at)
}

func (a *acked) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ids)
}

// resumed is how long after since the first acknowledgement came.
func (a *acked) resumed(since time.Time) (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, at := range a.times {
		if at.After(since) {
			return at.Sub(since), true
		}
	}
	return 0, false
}

// publishTimeout bounds the wait for one acknowledgement: a publish sent
// to a leader as it stops is lost, and waits this long before it is sent
// again, so it bounds how finely the resumption is measured.
const publishTimeout = 250 * time.Millisecond

// publishAll publishes message after message to subject, each with its own
// Nats-Msg-Id and retried under that id until acknowledged, until ctx ends.
func publishAll(ctx context.Context, js jetstream.JetStream, subject string, a *acked) {
	for n := 1; ctx.Err() == nil; n++ {
		id := fmt.Sprintf("m%d", n)
		for ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, publishTimeout)
			_, err := bus.Publish(pctx, js, subject, []byte(id), id)
			cancel()
			if err == nil {
				a.add(id, time.Now())
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAcknowledgedMessagesOutliveTheirLeader publishes without pause to a
// stream on three servers while its leader is stopped, started again, and
// the next leader stopped: a quorum always stands, so publishing resumes
// within an election and every acknowledged message is in the stream.
// With two servers of three down no publish is acknowledged; they time
// out instead.
func TestAcknowledgedMessagesOutliveTheirLeader(t *testing.T) {
	t.Parallel()
	c := bustest.NewCluster(t, 3)
	_, js := bustest.Connect(t, c.URL())
	declareOnCluster(t, js, bus.WithReplicas(3, testStreamConfig())...)

	a := &acked{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); publishAll(ctx, js, testSubject(1), a) }()
	stopPublishing := func() { cancel(); <-done }
	defer stopPublishing()
	waitAcked := func(n int) {
		t.Helper()
		want := a.count() + n
		require.Eventually(t, func() bool { return a.count() >= want }, 30*time.Second, 10*time.Millisecond,
			"publishing stalled at %d acknowledged", a.count())
	}
	stopLeader := func() int {
		t.Helper()
		var leader int
		require.Eventually(t, func() bool {
			var ok bool
			leader, ok = c.StreamLeader(testStream)
			return ok
		}, 20*time.Second, 10*time.Millisecond, "the stream has a leader")
		stopped := time.Now()
		require.NoError(t, c.Stop(leader))
		require.Eventually(t, func() bool { _, ok := c.StreamLeader(testStream); return ok }, 20*time.Second, time.Millisecond)
		elected := time.Since(stopped)
		waitAcked(1)
		resumed, _ := a.resumed(stopped)
		t.Logf("leader %s stopped: the next elected %s later, publishing resumed %s later (publish timeout %s)",
			natsembed.NodeName(leader), elected.Round(time.Millisecond), resumed.Round(time.Millisecond), publishTimeout)
		return leader
	}

	waitAcked(50)
	first := stopLeader()
	waitAcked(50)
	require.NoError(t, c.Start(first))
	bustest.WaitCurrent(t, js, testStream)
	second := stopLeader()
	require.NotEqual(t, first, second)
	waitAcked(50)

	// Two of three down: no quorum, no acknowledgement, and no hang past
	// the publisher's own timeout.
	third := 3 - first - second
	require.NoError(t, c.Stop(third))
	noQuorum, cancelNoQuorum := context.WithTimeout(t.Context(), 2*time.Second)
	began := time.Now()
	_, err := bus.Publish(noQuorum, js, testSubject(2), []byte("lost"), "no-quorum")
	cancelNoQuorum()
	require.Error(t, err, "one server of three acknowledged a publish")
	require.Less(t, time.Since(began), 3*time.Second)

	require.NoError(t, c.Start(third))
	require.NoError(t, c.Start(second))
	waitAcked(50)
	stopPublishing()

	stored := storedBodies(t, js, testStream)
	for _, id := range a.ids {
		require.Equal(t, 1, stored[id], "acknowledged message %s stored once", id)
	}
	t.Logf("%d messages acknowledged, each stored once", len(a.ids))
}

// storedBodies counts the messages of stream by body.
func storedBodies(t *testing.T, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	state := s.CachedInfo().State
	out := map[string]int{}
	for seq := state.FirstSeq; seq <= state.LastSeq && state.Msgs > 0; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		require.NoError(t, err, "message %d", seq)
		out[string(msg.Data)]++
	}
	return out
}
