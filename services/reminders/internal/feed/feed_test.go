package feed_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/reminders/internal/feed"
)

func TestEachKindOfEventIsPostedOnceInOneLineInTheOrderItHappened(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(t, "en")
	admin, _ := e.user(t)
	_, err := e.db.Pool.Exec(t.Context(), `UPDATE users SET username = 'boss' WHERE id = $1`, admin)
	require.NoError(t, err)
	u, name := e.user(t)

	_, err = e.shop.StartTrial(t.Context(), u)
	require.NoError(t, err)
	paid := e.pay(t, u)
	e.topUp(t, u, 600)
	p, applied, err := e.shop.BuyFromBalance(t.Context(), "purchase:1", u, "m1", shop.CurrencyXTR)
	require.NoError(t, err)
	require.True(t, applied)
	_, err = e.shop.SetAutoRenew(t.Context(), u, true, "")
	require.NoError(t, err)
	_, applied, err = e.shop.Renew(t.Context(), p.Sub.ID, p.Sub.ExpiresAt)
	require.NoError(t, err)
	require.True(t, applied)
	_, applied, err = e.shop.Refund(t.Context(), paid.ID)
	require.NoError(t, err)
	require.True(t, applied)
	e.act(t, admin, "ban", u)
	e.act(t, admin, "message", u) // not for the feed: it touches no sale
	e.act(t, admin, "unban", u)
	e.act(t, admin, "grant_balance", u)

	res := r.post(t)
	who := fmt.Sprintf("user %d (@%s)", u, name)
	by := fmt.Sprintf("by admin %d (@boss)", admin)
	want := []string{
		"🎁 trial · " + who + " · 3 days",
		"💳 payment · " + who + " · 250 ⭐ · 30 days",
		"💰 top-up · " + who + " · 600 ⭐",
		"🛒 purchase · " + who + " · 250 ⭐ from balance · 30 days",
		"🔄 renewal · " + who + " · 250 ⭐ from balance · 30 days",
		"↩️ refund · " + who + " · −250 ⭐ · −30 days",
		"🚫 ban · " + who + " · " + by,
		"✅ unban · " + who + " · " + by,
		"🛠 grant_balance · " + who + " · " + by,
	}
	msgs := e.eventMessages(t)
	require.Len(t, msgs, 1, "nine events are one message")
	require.Equal(t, want, lines(msgs))
	m := msgs[0]
	require.Equal(t, chat, m.GetChatId())
	require.Equal(t, vpnbotv1.Priority_PRIORITY_BROADCAST, m.GetPriority(), "after every user's message")
	require.Empty(t, m.GetParseMode(), "plain text: usernames go in as they are")
	require.Equal(t, len(want), res["feed_events"])
	require.EqualValues(t, len(want), r.posted(t))
	require.Equal(t, []string{m.GetDedupId()}, r.postedEvents(t))

	require.Zero(t, r.post(t)["feed_events"], "each event is posted once")
	require.Len(t, e.eventMessages(t), 1)

	e.act(t, admin, "ban", u)
	require.Equal(t, 1, r.post(t)["feed_events"], "a new event, in a message of its own")
	require.Equal(t, []string{"🚫 ban · " + who + " · " + by}, lines(e.eventMessages(t)[1:]))
}

func TestTheFeedIsInRussianWhenAskedTo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(t, "ru")
	u, name := e.user(t)
	_, err := e.shop.StartTrial(t.Context(), u)
	require.NoError(t, err)
	e.pay(t, u)
	e.act(t, 42, "ban", u)

	r.post(t)
	who := fmt.Sprintf("пользователь %d (@%s)", u, name)
	require.Equal(t, []string{
		"🎁 пробный период · " + who + " · 3 дня",
		"💳 оплата · " + who + " · 250 ⭐ · 30 дней",
		"🚫 бан · " + who + " · админ 42",
	}, lines(e.eventMessages(t)))
}

func TestManyEventsAreSplitIntoMessagesOfAtMostThirtyLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(t, "en")
	var users []int64
	for range 65 {
		u, _ := e.user(t)
		_, err := e.shop.StartTrial(t.Context(), u)
		require.NoError(t, err)
		users = append(users, u)
	}

	res := r.post(t)
	msgs := e.eventMessages(t)
	require.Len(t, msgs, 3)
	require.Equal(t, 3*30-25, res["feed_events"])
	for i, n := range []int{30, 30, 5} {
		require.Len(t, lines(msgs[i:i+1]), n, "message %d", i)
		require.LessOrEqual(t, len([]rune(msgs[i].GetText())), 4096)
	}
	got := lines(msgs)
	for i, u := range users {
		require.Contains(t, got[i], fmt.Sprintf("user %d ", u), "line %d: trials in the order taken", i)
	}
	require.Equal(t, e.claimedInOrder(t), dedupIDs(e.feedMessages(t)), "published in the order claimed")
}

func TestAFeedIsFirstSwitchedOnWithTheLastDayOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, _ := e.user(t)
	now := e.clock.Now()
	for i, age := range []int{50, 25, 23, 1} {
		_, err := e.db.Pool.Exec(t.Context(), `
			INSERT INTO ledger (op_key, user_id, kind, currency, money, created_at)
			VALUES ($1, $2, 'payment', 'USD', $3, $4)`,
			fmt.Sprintf("payment:old%d", i), u, 100*(i+1), now.Add(-time.Duration(age)*time.Hour))
		require.NoError(t, err)
	}

	e.replica(t, "en").post(t)
	got := lines(e.eventMessages(t))
	require.Len(t, got, 2, "the payments of 23 h and 1 h ago; the history before the last day is not posted")
	require.Contains(t, got[0], "$3.00")
	require.Contains(t, got[1], "$4.00")
}

func TestAPassFindingTheFeedHeldLeavesItToItsHolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.replica(t, "en")
	u, _ := e.user(t)
	_, err := e.shop.StartTrial(t.Context(), u)
	require.NoError(t, err)
	r.post(t) // the feed's state is made by its first pass
	e.pay(t, u)

	holder, err := e.db.Pool.Begin(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Rollback(context.Background()) })
	var since time.Time
	require.NoError(t, holder.QueryRow(t.Context(), `SELECT since FROM feed_state WHERE chat_id = $1 FOR UPDATE`, chat).Scan(&since))
	res := r.post(t)
	require.Equal(t, 1, res["feed_busy"])
	require.Zero(t, res["feed_events"])
	require.Len(t, e.eventMessages(t), 1)

	// The holder's session ends (its replica died): its hold ends with it.
	require.NoError(t, holder.Rollback(context.Background()))
	require.Equal(t, 1, r.post(t)["feed_events"])
	require.Len(t, e.eventMessages(t), 2)
}

func TestTheFeedIsOffWithoutAChat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f, err := feed.New(feed.Config{Lang: "en"}, e.db.Pool, e.js, zerolog.Nop(), nil)
	require.NoError(t, err)
	u, _ := e.user(t)
	_, err = e.shop.StartTrial(t.Context(), u)
	require.NoError(t, err)
	e.act(t, 1, "ban", u)

	res := worker.Result{}
	require.NoError(t, f.Post(t.Context(), res))
	require.Empty(t, res)
	require.Empty(t, e.feedMessages(t))
	var n int
	require.NoError(t, e.db.Pool.QueryRow(t.Context(),
		`SELECT (SELECT count(*) FROM feed_state) + (SELECT count(*) FROM feed_messages)`).Scan(&n))
	require.Zero(t, n, "nothing claimed, nothing started")
}
