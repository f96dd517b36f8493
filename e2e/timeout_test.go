package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// TestHungHandlerIsGivenUpAndItsPartitionMovesOn makes Telegram hang on the
// bot's reply to one chat, as in the original system's incident. The update
// must be given up at its deadline (logged WEBHOOK_HANDLER_TIMEOUT, copied to
// the DLQ), and a chat queued behind it in the same partition must get its
// answer instead of waiting forever.
func TestHungHandlerIsGivenUpAndItsPartitionMovesOn(t *testing.T) {
	t.Parallel()
	const deadline = 2 * time.Second
	s := start(t, options{env: []string{
		"HANDLER_TIMEOUT=" + deadline.String(),
		// The gateway logs each stored update (UPDATE_PUBLISHED) at debug.
		"LOG_LEVEL=debug",
	}})

	const hung = 5001
	behind := int64(hung + 1)
	for bus.Partition(behind, telegram.DefaultPartitions) != bus.Partition(hung, telegram.DefaultPartitions) {
		behind++
	}
	s.Sandbox.Inject(sandboxtg.Fault{Method: "sendMessage", ChatID: hung, Hang: true, Times: 1})
	updateID := s.Sandbox.SendText(hung, "/start")
	// Queued behind the hung update only once that one is in the stream.
	published := s.waitEvent(10*time.Second, "gateway", "UPDATE_PUBLISHED", func(l logLine) bool {
		return l.Fields["update_id"] == float64(updateID)
	})
	s.Sandbox.SendText(behind, "/start")

	timedOut := s.waitEvent(deadline+10*time.Second, "bot-handler", "WEBHOOK_HANDLER_TIMEOUT", func(l logLine) bool {
		return l.str("msg_id") == s.msgID(updateID)
	})
	took := timedOut.Time.Sub(published.Time)
	t.Logf("update stored at %s, given up %s later", published.Time.Format(time.StampMicro), took)
	// The gateway logs the update after the stream's ack, by which time the
	// handler may already have started: hence the small allowance.
	require.GreaterOrEqual(t, took, deadline-100*time.Millisecond, "given up before its deadline")
	require.LessOrEqual(t, took, deadline+time.Second, "given up too late after its deadline")

	var dead []bus.DLQEntry
	require.Eventually(t, func() bool {
		dead = s.dlq()
		return len(dead) > 0
	}, 5*time.Second, 20*time.Millisecond, "the given-up update is in the DLQ")
	require.Len(t, dead, 1)
	require.Equal(t, s.msgID(updateID), dead[0].MsgID)
	require.Equal(t, bus.DLQReasonTimeout, dead[0].Reason)
	require.Equal(t, telegram.UpdatesStream, dead[0].Stream)

	// The partition moved on: the chat behind gets its answer, after the
	// hung update was given up (it had to wait for it).
	s.waitReplies(10*time.Second, 1, behind)
	s.waitSettled(10 * time.Second)
	s.requireAnsweredOnceInOrder(behind, 1)
	answer := s.Sandbox.Messages(behind)[0]
	require.True(t, answer.Date.After(timedOut.Time), "the chat behind was answered at %s, before the hung update was given up at %s",
		answer.Date.Format(time.StampMicro), timedOut.Time.Format(time.StampMicro))
	require.Empty(t, s.Sandbox.Messages(hung), "the hung reply never reached the user")
}
