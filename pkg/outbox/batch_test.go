package outbox_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// broadcast is n broadcast commands to chats from+0 … from+n-1 with dedup
// ids of broadcast id.
func broadcast(id, from, n int) []*vpnbotv1.SendMessage {
	msgs := make([]*vpnbotv1.SendMessage, n)
	for i := range msgs {
		chat := int64(from + i)
		msgs[i] = &vpnbotv1.SendMessage{
			DedupId:  fmt.Sprintf("broadcast:%d:%d", id, chat),
			ChatId:   chat,
			Text:     "New servers in Amsterdam",
			Priority: vpnbotv1.Priority_PRIORITY_BROADCAST,
		}
	}
	return msgs
}

func TestPublishBatchStoresEveryCommandOnceAcrossRetries(t *testing.T) {
	t.Parallel()
	js := outboxJS(t)
	ctx := context.Background()
	// More than one window, so acks are awaited while publishing goes on.
	msgs := broadcast(7, 1000, 1000)

	published, dups, err := outbox.PublishBatch(ctx, js, msgs)
	require.NoError(t, err)
	require.Equal(t, 1000, published)
	require.Zero(t, dups)
	require.EqualValues(t, 1000, streamMsgs(t, js))
	require.Nil(t, msgs[0].GetCreatedAt(), "the caller's commands are not changed")

	// Each command is on its chat's subject with its dedup id, as Publish stores it.
	stream, err := js.Stream(ctx, outbox.Stream)
	require.NoError(t, err)
	for _, m := range []*vpnbotv1.SendMessage{msgs[0], msgs[517], msgs[999]} {
		raw, err := stream.GetLastMsgForSubject(ctx, outbox.Subject(vpnbotv1.Priority_PRIORITY_BROADCAST, bus.Partition(m.GetChatId(), outbox.Partitions)))
		require.NoError(t, err)
		got, err := outbox.Decode(raw.Data)
		require.NoError(t, err)
		require.Equal(t, raw.Header.Get(jetstream.MsgIDHeader), got.GetDedupId())
		require.Equal(t, "New servers in Amsterdam", got.GetText())
		require.NotNil(t, got.GetCreatedAt(), "queue age is measured from created_at")
	}

	// A retry after a partial failure: the first half again plus the rest
	// of a larger audience stores only the new ones.
	retry := append(broadcast(7, 1000, 500), broadcast(7, 2000, 200)...)
	published, dups, err = outbox.PublishBatch(ctx, js, retry)
	require.NoError(t, err)
	require.Equal(t, 200, published)
	require.Equal(t, 500, dups)
	require.EqualValues(t, 1200, streamMsgs(t, js))

	published, dups, err = outbox.PublishBatch(ctx, js, nil)
	require.NoError(t, err)
	require.Zero(t, published+dups)
}

func TestPublishBatchRefusesABatchWithAnInvalidCommand(t *testing.T) {
	t.Parallel()
	js := outboxJS(t)
	msgs := broadcast(8, 1, 10)
	msgs[6].Text = strings.Repeat("a", 4097)

	published, dups, err := outbox.PublishBatch(context.Background(), js, msgs)
	require.ErrorIs(t, err, outbox.ErrInvalid)
	require.ErrorContains(t, err, "command 7 of 10")
	require.ErrorContains(t, err, "4097 characters")
	require.Zero(t, published+dups)
	require.Zero(t, streamMsgs(t, js), "nothing of a refused batch reaches the sender")
}

func TestPublishBatchFailsWithoutTheStream(t *testing.T) {
	t.Parallel()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// No OUTBOX: nothing listens on outbox.>, so the publish fails rather
	// than reporting commands as queued.
	published, _, err := outbox.PublishBatch(ctx, js, broadcast(9, 1, 3))
	require.Error(t, err)
	require.ErrorContains(t, err, "broadcast:9:")
	require.Zero(t, published)
}

func TestPublishBatchStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	js := outboxJS(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	published, _, err := outbox.PublishBatch(ctx, js, broadcast(10, 1, 2*256+10))
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, published, "a cancelled batch publishes nothing more")
	require.Zero(t, streamMsgs(t, js))
}

// BenchmarkPublishBatch measures a broadcast's publishing rate (msgs/s) into
// a file-backed OUTBOX with deduplication, as the bot-handler does it within
// an update's deadline; BenchmarkPublish is the one-ack-at-a-time baseline.
func BenchmarkPublishBatch(b *testing.B) {
	js := benchJS(b)
	ctx := context.Background()
	const chunk = 1000
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; done += chunk {
		msgs := broadcast(1, done+1, min(chunk, b.N-done))
		published, _, err := outbox.PublishBatch(ctx, js, msgs)
		require.NoError(b, err)
		require.Equal(b, len(msgs), published)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func BenchmarkPublish(b *testing.B) {
	js := benchJS(b)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i, m := range broadcast(1, 1, b.N) {
		dup, err := outbox.Publish(ctx, js, m)
		require.NoError(b, err)
		require.False(b, dup, "command %d", i)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func benchJS(b *testing.B) jetstream.JetStream {
	b.Helper()
	srv := bustest.NewServer(b)
	_, js := bustest.Connect(b, srv.URL())
	require.NoError(b, bus.DeclareStreams(context.Background(), js, outbox.StreamConfig()))
	return js
}
