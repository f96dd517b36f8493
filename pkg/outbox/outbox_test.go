package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// outboxJS starts a server with the OUTBOX stream declared.
func outboxJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv := bustest.NewServer(t)
	_, js := bustest.Connect(t, srv.URL())
	require.NoError(t, bus.DeclareStreams(context.Background(), js, outbox.StreamConfig()))
	return js
}

func streamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), outbox.Stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func streamConfig(t *testing.T, js jetstream.JetStream) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(context.Background(), outbox.Stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.Config
}

func keyDelivery() *vpnbotv1.SendMessage {
	return &vpnbotv1.SendMessage{
		DedupId:   "activation:17:key",
		ChatId:    7_000_000_001,
		Text:      "Your key: <code>vless://…</code>",
		ParseMode: "HTML",
		Rows: []*vpnbotv1.ButtonRow{{Buttons: []*vpnbotv1.Button{
			{Text: "How to connect", Url: "https://example.org/help"},
			{Text: "Renew", CallbackData: "buy:m1"},
		}}},
		Priority: vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
	}
}

func TestSubjectsSeparatePrioritiesAndPartitions(t *testing.T) {
	t.Parallel()
	require.Equal(t, []vpnbotv1.Priority{
		vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, vpnbotv1.Priority_PRIORITY_REMINDER, vpnbotv1.Priority_PRIORITY_BROADCAST,
	}, outbox.Priorities(), "the sender drains the most urgent first")

	for p, name := range map[vpnbotv1.Priority]string{
		vpnbotv1.Priority_PRIORITY_TRANSACTIONAL: "transactional",
		vpnbotv1.Priority_PRIORITY_REMINDER:      "reminder",
		vpnbotv1.Priority_PRIORITY_BROADCAST:     "broadcast",
		vpnbotv1.Priority_PRIORITY_UNSPECIFIED:   "unspecified",
		vpnbotv1.Priority(99):                    "unspecified",
	} {
		require.Equal(t, name, outbox.PriorityName(p), "priority %v", p)
	}
	require.Equal(t, "outbox.transactional.0", outbox.Subject(vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, 0))
	require.Equal(t, "outbox.broadcast.63", outbox.Subject(vpnbotv1.Priority_PRIORITY_BROADCAST, 63))
	require.Equal(t, "outbox.reminder.>", outbox.SubjectFilter(vpnbotv1.Priority_PRIORITY_REMINDER))
}

func TestEnsureStreamIsIdempotentAndRepairsDrift(t *testing.T) {
	t.Parallel()
	js := outboxJS(t)
	ctx := context.Background()

	require.NoError(t, bus.DeclareStreams(ctx, js, outbox.StreamConfig()))
	cfg := streamConfig(t, js)
	require.Equal(t, []string{"outbox.>"}, cfg.Subjects)
	require.Equal(t, jetstream.WorkQueuePolicy, cfg.Retention)
	require.Equal(t, jetstream.FileStorage, cfg.Storage)
	require.Equal(t, 7*24*time.Hour, cfg.MaxAge)
	require.Equal(t, 24*time.Hour, cfg.Duplicates)

	_, err := outbox.Publish(ctx, js, keyDelivery())
	require.NoError(t, err)
	cfg.MaxAge = 48 * time.Hour
	_, err = js.UpdateStream(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, bus.DeclareStreams(ctx, js, outbox.StreamConfig()))
	require.Equal(t, 7*24*time.Hour, streamConfig(t, js).MaxAge)
	require.EqualValues(t, 1, streamMsgs(t, js), "declaring the stream again must not lose queued commands")
}

func TestPublishStoresOnThePriorityAndChatSubject(t *testing.T) {
	t.Parallel()
	js := outboxJS(t)
	ctx := context.Background()
	sent := keyDelivery()
	before := time.Now()

	dup, err := outbox.Publish(ctx, js, sent)
	require.NoError(t, err)
	require.False(t, dup)
	require.Nil(t, sent.GetCreatedAt(), "the caller's command is not changed")

	subject := outbox.Subject(vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, bus.Partition(sent.GetChatId(), outbox.Partitions))
	stream, err := js.Stream(ctx, outbox.Stream)
	require.NoError(t, err)
	raw, err := stream.GetLastMsgForSubject(ctx, subject)
	require.NoError(t, err, "nothing on %s", subject)
	require.Equal(t, "activation:17:key", raw.Header.Get(jetstream.MsgIDHeader))

	got, err := outbox.Decode(raw.Data)
	require.NoError(t, err)
	require.WithinRange(t, got.GetCreatedAt().AsTime(), before, time.Now(), "queue age is measured from created_at")
	got.CreatedAt = nil
	require.True(t, proto.Equal(sent, got), "the sender must read what was published: %v", got)

	// A created_at the caller set (e.g. when the reminder was due) is kept.
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	reminder := &vpnbotv1.SendMessage{
		DedupId: "reminder:17:3d", ChatId: sent.GetChatId(), Text: "Expires in 3 days",
		Priority: vpnbotv1.Priority_PRIORITY_REMINDER, CreatedAt: timestamppb.New(at),
	}
	_, err = outbox.Publish(ctx, js, reminder)
	require.NoError(t, err)
	raw, err = stream.GetLastMsgForSubject(ctx, outbox.Subject(vpnbotv1.Priority_PRIORITY_REMINDER, bus.Partition(sent.GetChatId(), outbox.Partitions)))
	require.NoError(t, err)
	got, err = outbox.Decode(raw.Data)
	require.NoError(t, err)
	require.Equal(t, at, got.GetCreatedAt().AsTime())
}

func TestPublishingTheSameCommandTwiceStoresItOnce(t *testing.T) {
	t.Parallel()
	js := outboxJS(t)
	ctx := context.Background()

	dup, err := outbox.Publish(ctx, js, keyDelivery())
	require.NoError(t, err)
	require.False(t, dup)
	// A worker retrying after a lost ack; created_at differs, the id does not.
	dup, err = outbox.Publish(ctx, js, keyDelivery())
	require.NoError(t, err)
	require.True(t, dup, "the stream must report the second publish as a duplicate")
	require.EqualValues(t, 1, streamMsgs(t, js))

	other := keyDelivery()
	other.DedupId = "activation:18:key"
	dup, err = outbox.Publish(ctx, js, other)
	require.NoError(t, err)
	require.False(t, dup)
	require.EqualValues(t, 2, streamMsgs(t, js))
}

func TestInvalidCommandsAreRejectedAndNotPublished(t *testing.T) {
	t.Parallel()
	js := outboxJS(t)
	ctx := context.Background()

	for name, tc := range map[string]struct {
		change func(m *vpnbotv1.SendMessage)
		reason string
	}{
		"no dedup id":    {func(m *vpnbotv1.SendMessage) { m.DedupId = "" }, "dedup_id is empty"},
		"long dedup id":  {func(m *vpnbotv1.SendMessage) { m.DedupId = strings.Repeat("x", 201) }, "dedup_id is 201 bytes"},
		"no chat":        {func(m *vpnbotv1.SendMessage) { m.ChatId = 0 }, "chat_id is 0"},
		"no priority":    {func(m *vpnbotv1.SendMessage) { m.Priority = vpnbotv1.Priority_PRIORITY_UNSPECIFIED }, "priority"},
		"bad priority":   {func(m *vpnbotv1.SendMessage) { m.Priority = 7 }, "priority"},
		"nothing to say": {func(m *vpnbotv1.SendMessage) { m.Text = "" }, "no text, photo or photo_url"},
		"long text":      {func(m *vpnbotv1.SendMessage) { m.Text = strings.Repeat("й", 4097) }, "4097 characters"},
		"long caption": {func(m *vpnbotv1.SendMessage) {
			m.Text, m.PhotoUrl = strings.Repeat("a", 1025), "https://example.org/qr.png"
		}, "caption is 1025 characters"},
		"two photos": {func(m *vpnbotv1.SendMessage) {
			m.Photo, m.PhotoUrl = []byte{1}, "https://example.org/qr.png"
		}, "both photo and photo_url"},
		"markdown":     {func(m *vpnbotv1.SendMessage) { m.ParseMode = "MarkdownV2" }, "parse_mode"},
		"bad utf-8":    {func(m *vpnbotv1.SendMessage) { m.Text = "\xff" }, "UTF-8"},
		"button no op": {func(m *vpnbotv1.SendMessage) { m.Rows[0].Buttons[0].Url = "" }, "button 1 of row 1 needs exactly one"},
		"button two ops": {func(m *vpnbotv1.SendMessage) {
			m.Rows[0].Buttons[0].WebAppUrl = "https://app.example.org/"
		}, "button 1 of row 1 needs exactly one"},
		"long callback": {func(m *vpnbotv1.SendMessage) {
			m.Rows[0].Buttons[1].CallbackData = strings.Repeat("c", 65)
		}, "button 2 of row 1 has 65 bytes"},
	} {
		m := keyDelivery()
		tc.change(m)
		_, err := outbox.Publish(ctx, js, m)
		require.ErrorIs(t, err, outbox.ErrInvalid, name)
		require.ErrorContains(t, err, tc.reason, name)
	}
	_, err := outbox.Publish(ctx, js, nil)
	require.ErrorIs(t, err, outbox.ErrInvalid)
	require.Zero(t, streamMsgs(t, js), "an invalid command reached the sender's queue")

	// The limits themselves are allowed: 4096 characters, not bytes.
	m := keyDelivery()
	m.Text = strings.Repeat("й", 4096)
	_, err = outbox.Publish(ctx, js, m)
	require.NoError(t, err)
	photo := &vpnbotv1.SendMessage{DedupId: "qr:17", ChatId: 5, Photo: []byte("png"), Priority: vpnbotv1.Priority_PRIORITY_BROADCAST}
	_, err = outbox.Publish(ctx, js, photo)
	require.NoError(t, err, "a photo needs no caption")
	require.EqualValues(t, 2, streamMsgs(t, js))
}

func TestDecodeRejectsWhatCannotBeSent(t *testing.T) {
	t.Parallel()
	_, err := outbox.Decode([]byte{0xff, 0xff, 0xff})
	require.ErrorIs(t, err, outbox.ErrInvalid, "garbage on the stream can only be dropped")

	// Published around Publish, without a chat: the sender must drop it, not retry.
	m := keyDelivery()
	m.ChatId = 0
	data, err := proto.Marshal(m)
	require.NoError(t, err)
	_, err = outbox.Decode(data)
	require.ErrorIs(t, err, outbox.ErrInvalid)
	require.ErrorContains(t, err, "chat_id is 0")
}
