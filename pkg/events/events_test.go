package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/events"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// eventsJS starts a server with the EVENTS stream declared.
func eventsJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	require.NoError(t, bus.DeclareStreams(context.Background(), js, events.StreamConfig()))
	return js
}

func TestEventsStreamIsDeclaredIdempotentlyAndRepaired(t *testing.T) {
	t.Parallel()
	js := eventsJS(t)
	ctx := context.Background()

	require.NoError(t, bus.DeclareStreams(ctx, js, events.StreamConfig()))
	cfg := streamConfig(t, js, events.Stream)
	require.Equal(t, []string{"activation.requested", "payments.>"}, cfg.Subjects)
	require.Equal(t, jetstream.LimitsPolicy, cfg.Retention)
	require.Equal(t, jetstream.FileStorage, cfg.Storage)
	require.Equal(t, 7*24*time.Hour, cfg.MaxAge)
	require.Equal(t, time.Hour, cfg.Duplicates)

	cfg.MaxAge = 2 * time.Hour
	_, err := js.UpdateStream(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, bus.DeclareStreams(ctx, js, events.StreamConfig()))
	require.Equal(t, 7*24*time.Hour, streamConfig(t, js, events.Stream).MaxAge)

	// The gateway's Crypto Pay webhooks land in the same stream.
	_, err = bus.Publish(ctx, js, events.SubjectCryptoPayPayments, []byte(`{"update_id":1}`), "cryptopay:1")
	require.NoError(t, err)
	require.EqualValues(t, 1, streamMsgs(t, js, events.Stream))
}

func TestPublishActivationRequestedStoresOncePerRequest(t *testing.T) {
	t.Parallel()
	js := eventsJS(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	req := &vpnbotv1.ActivationRequested{
		SubscriptionId: 17, UserId: 1001, Reason: "trial", RequestedAt: timestamppb.New(at),
	}

	// A bot-handler retrying after a lost ack publishes the same request again.
	require.NoError(t, events.PublishActivationRequested(ctx, js, req))
	require.NoError(t, events.PublishActivationRequested(ctx, js, req))
	require.EqualValues(t, 1, streamMsgs(t, js, events.Stream))

	stream, err := js.Stream(ctx, events.Stream)
	require.NoError(t, err)
	raw, err := stream.GetLastMsgForSubject(ctx, events.SubjectActivationRequested)
	require.NoError(t, err)
	require.Equal(t, "activation:17:trial:1772366400000000005", raw.Header.Get(jetstream.MsgIDHeader))
	var got vpnbotv1.ActivationRequested
	require.NoError(t, proto.Unmarshal(raw.Data, &got))
	require.True(t, proto.Equal(req, &got), "the activation worker must read what was sent: %v", &got)

	// A payment later on the same subscription is a new request.
	paid := proto.CloneOf(req)
	paid.Reason = "payment"
	paid.RequestedAt = timestamppb.New(at.Add(time.Hour))
	require.NoError(t, events.PublishActivationRequested(ctx, js, paid))
	require.EqualValues(t, 2, streamMsgs(t, js, events.Stream))
}

func TestPublishActivationRequestedRejectsIncompleteRequests(t *testing.T) {
	t.Parallel()
	js := eventsJS(t)
	ctx := context.Background()

	for name, m := range map[string]*vpnbotv1.ActivationRequested{
		"nil":             nil,
		"no subscription": {UserId: 1, Reason: "trial", RequestedAt: timestamppb.Now()},
		"no time":         {SubscriptionId: 1, UserId: 1, Reason: "trial"},
	} {
		require.Error(t, events.PublishActivationRequested(ctx, js, m), name)
	}
	require.EqualValues(t, 0, streamMsgs(t, js, events.Stream))
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func streamConfig(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	require.NoError(t, err)
	return s.CachedInfo().Config
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}
