package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// TestKilledSenderLosesNothing kills the sender with SIGKILL while it works
// through a queue of notifications and starts it again: every command must
// reach its chat. The sender records a command in its sent-log after
// Telegram accepted it, so a kill between the two can send that one command
// again when it is redelivered; it has at most one send in flight per chat,
// so a chat may see at most one message twice, and none three times.
// Commands the dead sender held come back within the consumer's AckWait,
// which the next leader waits out before its first send: each chat's
// notices still arrive in the order they were published.
func TestKilledSenderLosesNothing(t *testing.T) {
	t.Parallel()
	const chats, perChat = 30, 10
	s := start(t, options{env: []string{"SENDER_RATE=60", "TELEGRAM_CHAT_RATE=20"}})
	// Slow Telegram down a little, so the queue is still long at the kill.
	s.Sandbox.Inject(sandboxtg.Fault{Method: "sendMessage", Latency: 20 * time.Millisecond})

	var cmds []*vpnbotv1.SendMessage
	for i := range perChat {
		for c := range chats {
			cmds = append(cmds, &vpnbotv1.SendMessage{
				DedupId: fmt.Sprintf("crash:%d:%d", c, i), ChatId: int64(9001 + c),
				Text: fmt.Sprintf("notice %02d", i), Priority: vpnbotv1.Priority_PRIORITY_REMINDER,
			})
		}
	}
	published, _, err := outbox.PublishBatch(t.Context(), s.js, cmds)
	require.NoError(t, err)
	require.Equal(t, len(cmds), published)

	delivered := func() int {
		n := 0
		for c := range chats {
			n += len(s.Sandbox.Messages(int64(9001 + c)))
		}
		return n
	}
	require.Eventually(t, func() bool { return delivered() >= len(cmds)/4 }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, s.Kill(localstack.Sender, 0))
	atKill := delivered()
	require.Less(t, atKill, len(cmds), "the kill came mid-queue")
	t.Logf("killed the sender with %d of %d commands delivered", atKill, len(cmds))
	require.NoError(t, s.Start(localstack.Sender, 0))

	for c := range chats {
		chat := int64(9001 + c)
		require.Eventually(t, func() bool { return distinctTexts(s.Sandbox.Messages(chat)) == perChat },
			90*time.Second, 50*time.Millisecond, "chat %d: not every notice arrived", chat)
	}
	doubled := 0
	for c := range chats {
		seen := map[string]int{}
		var order []string
		for _, m := range s.Sandbox.Messages(int64(9001 + c)) {
			if seen[m.Plain] == 0 {
				order = append(order, m.Plain)
			}
			seen[m.Plain]++
		}
		require.True(t, slices.IsSorted(order), "chat %d: notices out of order: %v", 9001+c, order) // zero-padded: text order is publish order
		twice := 0
		for text, n := range seen {
			require.LessOrEqual(t, n, 2, "chat %d: %q sent %d times", 9001+c, text, n)
			if n == 2 {
				twice++
			}
		}
		require.LessOrEqual(t, twice, 1, "chat %d: more than the one send in flight at the kill was repeated", 9001+c)
		doubled += twice
	}
	t.Logf("%d commands sent twice (the in-flight window at the kill)", doubled)
	require.Empty(t, s.dlq(), "nothing was dead-lettered")
}

func distinctTexts(msgs []sandboxtg.Message) int {
	seen := map[string]bool{}
	for _, m := range msgs {
		seen[m.Plain] = true
	}
	return len(seen)
}
