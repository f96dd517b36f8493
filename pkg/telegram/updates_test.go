package telegram_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

func TestUpdatesStreamIsAWorkQueueWithAnHourOfDuplicates(t *testing.T) {
	t.Parallel()
	require.Equal(t, "tg.updates.17", telegram.UpdatesSubject(17))
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	ctx := context.Background()
	require.NoError(t, bus.DeclareStreams(ctx, js, telegram.UpdatesStreamConfig()))
	s, err := js.Stream(ctx, telegram.UpdatesStream)
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	require.Equal(t, []string{"tg.updates.*"}, cfg.Subjects)
	require.Equal(t, jetstream.WorkQueuePolicy, cfg.Retention)
	require.Equal(t, jetstream.FileStorage, cfg.Storage)
	require.Equal(t, time.Hour, cfg.Duplicates)

	dup, err := bus.Publish(ctx, js, telegram.UpdatesSubject(3), []byte(`{"update_id":1}`), "bot1:1")
	require.NoError(t, err)
	require.False(t, dup)
	dup, err = bus.Publish(ctx, js, telegram.UpdatesSubject(3), []byte(`{"update_id":1}`), "bot1:1")
	require.NoError(t, err)
	require.True(t, dup, "Telegram's retry of the same update must be reported a duplicate")
}

func TestUpdateMetaTravelsInHeaders(t *testing.T) {
	t.Parallel()
	h := telegram.UpdateMeta{UpdateID: 9223372036854775807, ChatID: -1001234567890, UserID: 118}.Header()
	require.Equal(t, nats.Header{
		telegram.HeaderUpdateID: {"9223372036854775807"},
		telegram.HeaderChatID:   {"-1001234567890"},
		telegram.HeaderUserID:   {"118"},
	}, h)
	require.Equal(t, nats.Header{telegram.HeaderUpdateID: {"10026"}}, telegram.UpdateMeta{UpdateID: 10026}.Header(),
		"no chat or user header when the update names none")
}
