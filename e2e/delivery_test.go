package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestUserGetsAReplyAndARedeliveredUpdateIsAnsweredOnce follows one update
// from a user through the sandbox, the gateway, NATS and the bot-handler to
// the reply in the user's chat; then Telegram delivers one update twice
// (as it does when it missed our first 200), and the user must see one
// answer.
func TestUserGetsAReplyAndARedeliveredUpdateIsAnsweredOnce(t *testing.T) {
	t.Parallel()
	s := start(t, options{})

	const user = 2001
	s.Sandbox.SendText(user, "/start")
	s.waitReplies(20*time.Second, 1, user)
	s.waitSettled(10 * time.Second)
	s.requireAnsweredOnceInOrder(user, 1)

	const twice = 2002
	update, err := json.Marshal(map[string]any{
		"update_id": 700001,
		"message": map[string]any{
			"message_id": 1,
			"date":       time.Now().Unix(),
			"from":       map[string]any{"id": twice, "is_bot": false, "first_name": "Twice", "language_code": "en"},
			"chat":       map[string]any{"id": twice, "type": "private", "first_name": "Twice"},
			"text":       "/help",
			"entities":   []map[string]any{{"type": "bot_command", "offset": 0, "length": 5}},
		},
	})
	require.NoError(t, err)
	delivered := s.Sandbox.Stats().Deliveries
	s.Sandbox.Enqueue(twice, update)
	s.Sandbox.Enqueue(twice, update)
	s.waitSettled(20 * time.Second)
	require.Equal(t, delivered+2, s.Sandbox.Stats().Deliveries, "both copies reached the gateway and were accepted")
	s.requireAnsweredOnceInOrder(twice, 1)

	// Once more, long after the first copy was answered.
	s.Sandbox.Enqueue(twice, update)
	s.waitSettled(20 * time.Second)
	require.Equal(t, delivered+3, s.Sandbox.Stats().Deliveries)
	s.requireAnsweredOnceInOrder(twice, 1)
	require.Empty(t, s.dlq())
}
