package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNATSOutageLosesNoUpdate stops the broker while users keep writing. The
// gateway cannot store updates then, so it must refuse them with 503 and
// Retry-After (Telegram keeps an update until it gets a 2xx); once the broker
// is back, Telegram's retries must bring every message to the bot, and every
// user must see one reply to each message, in order.
func TestNATSOutageLosesNoUpdate(t *testing.T) {
	t.Parallel()
	// A short publish timeout makes the gateway answer 503 quickly, so
	// Telegram's retries (and this test) do not wait long on each attempt.
	s := start(t, options{env: []string{"PUBLISH_TIMEOUT=1s"}})

	const before = 3001
	s.Sandbox.SendText(before, "/start")
	s.waitReplies(20*time.Second, 1, before)

	require.NoError(t, s.StopNATS())
	outage := time.Now()

	// Telegram's view: a webhook call is refused with a retry hint.
	body := `{"update_id": 990001, "message": {"message_id": 1, "date": ` + strconv.FormatInt(time.Now().Unix(), 10) +
		`, "chat": {"id": 3999, "type": "private"}, "from": {"id": 3999, "is_bot": false, "first_name": "Direct"}, "text": "hi"}}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.WebhookURL, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", s.WebhookSecret)
	resp, err := s.http.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "the gateway cannot store the update while NATS is down")
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", resp.Header.Get("Retry-After"))
	require.Positive(t, retry)
	// On-call's view of the same.
	s.waitEvent(5*time.Second, "gateway", "PUBLISH_FAILED", nil)

	// Users keep writing during the outage, a message per chat each round;
	// the sandbox's deliveries fail and are retried with a growing delay, as
	// Telegram's are. A round ends when as many more attempts have been
	// refused as there are chats, so the outage spans several retries.
	chats := chatRange(3002, 5)
	const rounds = 4
	for range rounds {
		failures := s.Sandbox.Stats().DeliveryFailures
		s.sendTexts(1, chats...)
		require.Eventually(t, func() bool {
			return s.Sandbox.Stats().DeliveryFailures >= failures+len(chats)
		}, 15*time.Second, 20*time.Millisecond, "deliveries are refused during the outage")
	}
	require.Equal(t, 1, s.Sandbox.Stats().Deliveries, "nothing but the first /start got through")

	require.NoError(t, s.StartNATS())
	t.Logf("NATS was down for %s", time.Since(outage).Round(time.Millisecond))

	// The sandbox's backoff reaches 10 s between attempts, so allow a few.
	s.waitReplies(45*time.Second, rounds, chats...)
	s.waitSettled(20 * time.Second)
	s.requireAnsweredOnceInOrder(before, 1)
	for _, chat := range chats {
		s.requireAnsweredOnceInOrder(chat, rounds)
	}
}
