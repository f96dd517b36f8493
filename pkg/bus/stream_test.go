package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
)

func TestPartitionIsStableAndSpread(t *testing.T) {
	t.Parallel()
	// Pinned values: the gateway and the bot-handler of different versions
	// must agree, so the hash can never change.
	for key, want := range map[int64]int{0: 5, 1: 18, 42: 23, -1001234567890: 28, 123456789: 33, 7: 32} {
		require.Equal(t, want, bus.Partition(key, 64), "key %d", key)
	}
	require.Equal(t, 0, bus.Partition(42, 1))

	const n, keys = 64, 64000
	counts := make([]int, n)
	for k := range int64(keys) {
		p := bus.Partition(k*7919-500000, n) // spread-out ids, negative (group chats) too
		require.True(t, p >= 0 && p < n)
		counts[p]++
	}
	for p, c := range counts {
		require.InDelta(t, keys/n, c, keys/n/5, "partition %d holds %d keys", p, c)
	}
}

func TestPartitionOfReadsWhatPartitionDurableWrites(t *testing.T) {
	t.Parallel()
	for _, i := range []int{0, 7, 63} {
		consumer, partition, ok := bus.PartitionOf(bus.PartitionDurable("bot-handler", i))
		require.True(t, ok, "partition %d", i)
		require.Equal(t, "bot-handler", consumer)
		require.Equal(t, i, partition)
	}
	for _, durable := range []string{"sender-transactional", "payment-watcher", "activation", "bot-handler-07", "bot-handler-", "-3"} {
		_, _, ok := bus.PartitionOf(durable)
		require.False(t, ok, "%q is no partition's durable", durable)
	}
}

func TestPublishDeduplicatesByMsgID(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	ctx := context.Background()

	dup, err := bus.Publish(ctx, js, testSubject(3), []byte(`{"update_id":1}`), "bot1:1")
	require.NoError(t, err)
	require.False(t, dup)
	dup, err = bus.Publish(ctx, js, testSubject(3), []byte(`{"update_id":1}`), "bot1:1")
	require.NoError(t, err)
	require.True(t, dup, "Telegram's retry of the same update must be reported a duplicate")
	require.EqualValues(t, 1, streamMsgs(t, js, testStream))

	dup, err = bus.PublishMsg(ctx, js, &nats.Msg{Subject: testSubject(4), Data: []byte("y"), Header: nats.Header{"Tg-Update-Id": []string{"2"}}}, "bot1:2")
	require.NoError(t, err)
	require.False(t, dup)
	s, err := js.Stream(ctx, testStream)
	require.NoError(t, err)
	raw, err := s.GetLastMsgForSubject(ctx, testSubject(4))
	require.NoError(t, err)
	require.Equal(t, "2", raw.Header.Get("Tg-Update-Id"), "the headers are stored with the message")
	require.Equal(t, "bot1:2", raw.Header.Get(nats.MsgIdHdr))

	_, err = bus.Publish(ctx, js, "nobody.listens", []byte("x"), "id")
	require.Error(t, err, "a subject no stream holds must fail, not pass silently")
}

func TestDeclareStreamsIsIdempotentAndRepairsDrift(t *testing.T) {
	t.Parallel()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	ctx := context.Background()

	for range 2 {
		require.NoError(t, bus.DeclareStreams(ctx, js, testStreamConfig(), bus.DLQStreamConfig()))
	}
	require.Equal(t, []string{"test.>"}, streamConfig(t, js, testStream).Subjects)
	dlq := streamConfig(t, js, bus.StreamDLQ)
	require.Equal(t, []string{"dlq.>"}, dlq.Subjects)
	require.Equal(t, jetstream.LimitsPolicy, dlq.Retention)
	require.Equal(t, jetstream.FileStorage, dlq.Storage)
	require.Equal(t, 14*24*time.Hour, dlq.MaxAge)

	// Someone edits the stream by hand; the next service start puts it back.
	dlq.MaxAge = time.Hour
	_, err := js.UpdateStream(ctx, dlq)
	require.NoError(t, err)
	require.NoError(t, bus.DeclareStreams(ctx, js, bus.DLQStreamConfig()))
	require.Equal(t, 14*24*time.Hour, streamConfig(t, js, bus.StreamDLQ).MaxAge)

	clash := testStreamConfig()
	clash.Name = "CLASH" // the same subjects as TESTS: the server refuses it
	err = bus.DeclareStreams(ctx, js, clash, bus.DLQStreamConfig())
	require.ErrorContains(t, err, "declaring stream CLASH")
}

func streamConfig(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	require.NoError(t, err)
	return s.CachedInfo().Config
}
