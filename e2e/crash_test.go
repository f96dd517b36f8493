package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// TestKilledBotHandlerLosesNothing kills one of two bot-handler replicas
// with SIGKILL in the middle of a burst and starts it again. Every message
// must still be answered, in order.
//
// Delivery is at least once: the bot-handler records an update in its inbox
// after its reply went out, so a kill between the two makes the update run
// again and its user get that reply twice. The test allows exactly that
// window and nothing more: a message answered twice must have had its first
// answer sent before the kill, at most one message per chat (a replica has
// one update per partition in flight), and never a third answer.
func TestKilledBotHandlerLosesNothing(t *testing.T) {
	const (
		replyLatency = 30 * time.Millisecond
		// inFlightAtKill: a reply the killed replica sent just before the
		// kill is stored by the sandbox after it (the injected latency, and
		// a busy machine's scheduling). It cannot be a redelivery's answer:
		// the killed replica kept its update in progress at most AckWait/3
		// before the kill, so it comes back no sooner than 2 s after it.
		inFlightAtKill = time.Second
	)
	t.Parallel()
	const perChat = 25
	s := start(t, options{botHandlers: 2})
	// Slow replies a little, so the burst is still under way at the kill.
	s.Sandbox.Inject(sandboxtg.Fault{Method: "sendMessage", Latency: replyLatency})

	chats := chatRange(7001, 20)
	total := s.sendTexts(perChat, chats...)
	answered := func() int {
		n := 0
		for _, chat := range chats {
			n += len(s.Sandbox.Messages(chat))
		}
		return n
	}
	require.Eventually(t, func() bool { return answered() >= total/5 }, 30*time.Second, 5*time.Millisecond)
	m, err := s.Metrics(t.Context(), localstack.BotHandler, 0)
	require.NoError(t, err)
	require.Positive(t, m[`vpnbot_bot_updates_total{outcome="handled"}`], "the replica to kill was working")

	require.NoError(t, s.Kill(localstack.BotHandler, 0))
	killed := time.Now()
	atKill := answered()
	require.Less(t, atKill, total, "the kill came mid-stream")
	t.Logf("killed replica 0 with %d of %d messages answered", atKill, total)
	require.NoError(t, s.Start(localstack.BotHandler, 0))

	s.waitSettled(60 * time.Second)
	doubles := 0
	for _, chat := range chats {
		bot := s.Sandbox.Messages(chat)
		users := userMessageIDs(bot, perChat)
		replies := replyTos(bot)
		require.True(t, slices.IsSorted(replies), "chat %d: replies out of order: %v", chat, replies)
		require.Equal(t, users, slices.Compact(slices.Clone(replies)), "chat %d: every message answered", chat)
		chatDoubles := 0
		for i := 1; i < len(bot); i++ {
			if bot[i].ReplyTo != bot[i-1].ReplyTo {
				continue
			}
			chatDoubles++
			require.True(t, bot[i-1].Date.Before(killed.Add(inFlightAtKill)),
				"chat %d: message %d answered twice, the first time after the kill", chat, bot[i].ReplyTo)
			require.False(t, i > 1 && bot[i-2].ReplyTo == bot[i].ReplyTo, "chat %d: message %d answered three times", chat, bot[i].ReplyTo)
		}
		require.LessOrEqual(t, chatDoubles, 1, "chat %d: more than the one update in flight at the kill answered twice", chat)
		doubles += chatDoubles
	}
	t.Logf("%d messages answered twice (the at-least-once window at the kill)", doubles)
	require.Empty(t, s.dlq())
}
