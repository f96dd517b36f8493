package outbox_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

func TestCommandsCarryTheirPublishersTrace(t *testing.T) {
	t.Parallel()
	js := outboxJS(t)
	ctx, span := otel.Tracer("test").Start(context.Background(), "update")
	defer span.End()
	id := span.SpanContext().TraceID().String()

	_, err := outbox.Publish(ctx, js, &vpnbotv1.SendMessage{DedupId: "reply:1", ChatId: 1, Text: "hi", Priority: vpnbotv1.Priority_PRIORITY_TRANSACTIONAL})
	require.NoError(t, err)
	published, _, err := outbox.PublishBatch(ctx, js, broadcast(8, 2000, 3))
	require.NoError(t, err)
	require.Equal(t, 3, published)

	stream, err := js.Stream(ctx, outbox.Stream)
	require.NoError(t, err)
	for seq := uint64(1); seq <= 4; seq++ {
		raw, err := stream.GetMsg(ctx, seq)
		require.NoError(t, err)
		require.Equal(t, id, bus.TraceID(raw.Header), "command %d continues the caller's trace", seq)
	}
}
