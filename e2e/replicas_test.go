package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
)

// TestReplicasKeepEveryChatInOrder has three bot-handler replicas share a
// burst of 50 chats × 40 messages. Whatever replica handles what, each user
// must see one reply to every message, in the order written; and the
// operator must see the work shared, each update handled once.
func TestReplicasKeepEveryChatInOrder(t *testing.T) {
	t.Parallel()
	const replicas, perChat = 3, 40
	s := start(t, options{botHandlers: replicas})

	chats := chatRange(4001, 50)
	began := time.Now()
	total := s.sendTexts(perChat, chats...)
	s.waitReplies(90*time.Second, perChat, chats...)
	s.waitSettled(20 * time.Second)
	t.Logf("%d updates answered in %s", total, time.Since(began).Round(time.Millisecond))

	for _, chat := range chats {
		s.requireAnsweredOnceInOrder(chat, perChat)
	}
	handled := 0.0
	for i := range replicas {
		m, err := s.Metrics(t.Context(), localstack.BotHandler, i)
		require.NoError(t, err)
		n := m[`vpnbot_bot_updates_total{outcome="handled"}`]
		require.Positive(t, n, "replica %d handled nothing", i)
		require.Zero(t, m[`vpnbot_bot_updates_total{outcome="duplicate"}`], "replica %d saw a redelivery", i)
		handled += n
		t.Logf("replica %d handled %.0f", i, n)
	}
	require.Equal(t, float64(total), handled, fmt.Sprintf("%d updates, each handled once", total))
	require.Empty(t, s.dlq())
}
