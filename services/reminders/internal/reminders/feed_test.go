package reminders_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"

	"github.com/vpnbot/vpnbot/services/reminders/internal/feed"
	"github.com/vpnbot/vpnbot/services/reminders/internal/reminders"
)

// feedTexts are the texts of the feed's messages in the OUTBOX.
func (e *env) feedTexts(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range e.messages(t) {
		if strings.HasPrefix(m.GetDedupId(), "feed:") && !strings.HasPrefix(m.GetDedupId(), "feed:summary:") {
			out = append(out, m.GetText())
		}
	}
	return out
}

func TestTheIterationPostsTheFeedAfterTheUsersMessagesWhenAChatIsSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{Feed: feed.Config{ChatID: -100123, SummaryHour: 23, Lang: "en"}})
	sub := e.paid(t, "en")
	// The period nears its end now, on the feed's clock too.
	sub.ExpiresAt = e.clock.Now().Add(23 * time.Hour).Truncate(time.Second)
	e.setExpiry(t, sub.ID, sub.ExpiresAt)

	res := iterate(t, in)
	require.Equal(t, 1, res["sent"])
	require.Equal(t, 1, res["feed_events"])
	texts := e.feedTexts(t)
	require.Len(t, texts, 1)
	require.True(t, strings.HasPrefix(texts[0], "💳 payment · user "), texts[0])
	msgs := e.messages(t)
	require.Equal(t, dedupID("reminder_24h", sub), msgs[0].GetDedupId(), "the user's reminder goes first")
	v, ok := obstest.Metric(t, in.reg, "vpnbot_reminders_feed_events_total", nil)
	require.True(t, ok)
	require.EqualValues(t, 1, v, "on the worker's registry")
}

func TestTheIterationPostsNoFeedWithoutAChat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.paid(t, "en")
	e.clock.Set(sub.ExpiresAt.Add(-23 * time.Hour))

	res := iterate(t, in)
	require.Equal(t, 1, res["sent"], "the iteration ran")
	require.Zero(t, res["feed_events"])
	require.Empty(t, e.feedTexts(t))
	var n int
	require.NoError(t, e.db.Pool.QueryRow(t.Context(),
		`SELECT (SELECT count(*) FROM feed_state) + (SELECT count(*) FROM feed_messages)`).Scan(&n))
	require.Zero(t, n)
}
