package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/outbox"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// TestRepliesAndNotificationsShareTheChatsLimit has a user write to the bot
// while notifications for them are queued, under Telegram's flood limits (one
// message a second to a chat, bursts of three). The bot-handler's replies
// and the sender's notifications take their turns from one per-chat budget,
// so Telegram refuses none of them, and the user gets one answer to each
// message and each notification once. With a budget of its own in each
// service, they went over the limit together: 429s, and an update answered
// twice after its retry.
func TestRepliesAndNotificationsShareTheChatsLimit(t *testing.T) {
	t.Parallel()
	const (
		chat           = 9700
		notices, texts = 6, 6
	)
	s := start(t, options{telegramLimits: true})

	cmds := make([]*vpnbotv1.SendMessage, notices)
	for i := range cmds {
		cmds[i] = &vpnbotv1.SendMessage{
			DedupId: fmt.Sprintf("pace:%d", i), ChatId: chat,
			Text: fmt.Sprintf("notice %d", i), Priority: vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		}
	}
	published, _, err := outbox.PublishBatch(t.Context(), s.js, cmds)
	require.NoError(t, err)
	require.Equal(t, notices, published)
	s.sendTexts(texts, chat)

	s.waitReplies(time.Minute, notices+texts, chat)
	s.waitSettled(30 * time.Second)

	require.Zero(t, s.Sandbox.Stats().Flooded, "Telegram refused sends over its limits: %v", s.Sandbox.Floods())
	var answered []int64
	seen := map[string]int{}
	for _, m := range s.Sandbox.Messages(chat) {
		if m.ReplyTo != 0 {
			answered = append(answered, m.ReplyTo)
			continue
		}
		seen[m.Plain]++
	}
	slices.Sort(answered)
	require.Equal(t, userMessageIDs(s.Sandbox.Messages(chat), texts), answered, "each message answered once")
	for i := range notices {
		require.Equal(t, 1, seen[fmt.Sprintf("notice %d", i)], "notice %d delivered once", i)
	}
}
