package vpnbotv1_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// The activation worker must read back exactly what the bot-handler or the
// payment-watcher published, including the nanoseconds of requested_at that
// the publisher's dedup id is built from.
func TestActivationRequestedRoundTrip(t *testing.T) {
	t.Parallel()
	sent := &vpnbotv1.ActivationRequested{
		SubscriptionId: 42,
		UserId:         7_000_000_001,
		Reason:         "payment",
		RequestedAt:    timestamppb.New(time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.UTC)),
	}

	wire, err := proto.Marshal(sent)
	require.NoError(t, err)

	var got vpnbotv1.ActivationRequested
	require.NoError(t, proto.Unmarshal(wire, &got))
	require.True(t, proto.Equal(sent, &got), "sent %v, got %v", sent, &got)
	require.Equal(t, int64(7_000_000_001), got.GetUserId())
	require.Equal(t, sent.GetRequestedAt().AsTime(), got.GetRequestedAt().AsTime())
}
