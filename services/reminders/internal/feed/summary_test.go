package feed_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// summaries are the feed's daily summaries in the OUTBOX, in order.
func (e *env) summaries(t *testing.T) []*vpnbotv1.SendMessage {
	t.Helper()
	var out []*vpnbotv1.SendMessage
	for _, m := range e.feedMessages(t) {
		if strings.HasPrefix(m.GetDedupId(), "feed:summary:") {
			out = append(out, m)
		}
	}
	return out
}

// at is a time of 14 March 2026, the day summed up, or of a day around it.
func at(day, hour, minute, second int) time.Time {
	return time.Date(2026, 3, day, hour, minute, second, 0, time.UTC)
}

func TestTheDaysSummaryIsPostedOnceFromTheSummaryHourWithTheDaysNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := e.db.Pool.Exec(t.Context(), sql, args...)
		require.NoError(t, err)
	}
	// Users who came on the 14th, and one either side of it.
	for id, joined := range map[int64]time.Time{
		501: at(14, 10, 0, 0), 502: at(14, 23, 59, 59), 503: at(13, 23, 59, 59), 504: at(15, 0, 0, 0),
	} {
		exec(`INSERT INTO users (id, chat_id, created_at) VALUES ($1, $1, $2)`, id, joined)
	}
	row := func(key string, user int64, kind, currency string, amount, money int64, when time.Time) {
		t.Helper()
		exec(`INSERT INTO ledger (op_key, user_id, kind, currency, amount, money, created_at)
			VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7)`, key, user, kind, currency, amount, money, when)
	}
	row("t1", 501, "trial", "", 0, 0, at(14, 10, 1, 0))
	row("t0", 503, "trial", "", 0, 0, at(13, 23, 0, 0))
	row("p1", 501, "payment", "USD", 0, 499, at(14, 11, 0, 0))
	row("p2", 501, "payment", "XTR", 0, 250, at(14, 12, 0, 0))
	row("u1", 501, "topup", "XTR", 600, 600, at(14, 13, 0, 0))
	row("b1", 501, "purchase", "XTR", -250, 0, at(14, 14, 0, 0))
	row("r1", 501, "renewal", "XTR", -250, 0, at(14, 15, 0, 0))
	row("f1", 501, "refund", "XTR", 0, -250, at(14, 16, 0, 0))
	row("promo1", 501, "promo", "", 0, 0, at(14, 16, 30, 0))
	row("p3", 504, "payment", "USD", 0, 999, at(15, 0, 0, 0))
	audit := func(key, action string, target int64, when time.Time) {
		t.Helper()
		exec(`INSERT INTO admin_audit (op_key, admin_id, action, target_id, created_at) VALUES ($1, 1, $2, $3, $4)`,
			key, action, target, when)
	}
	audit("a1", "ban", 501, at(14, 17, 0, 0))
	audit("a2", "unban", 501, at(14, 18, 0, 0))
	audit("a3", "ban", 502, at(15, 0, 0, 0))

	ru := e.replica(t, "ru")
	e.clock.Set(at(15, 8, 59, 59))
	ru.post(t)
	require.Empty(t, e.summaries(t), "before the summary hour")

	e.clock.Set(at(15, 9, 0, 0))
	ru.post(t)
	require.Equal(t, []string{"feed:summary:2026-03-14"}, dedupIDs(e.summaries(t)))
	require.Equal(t, "📊 Итоги 2026-03-14 (UTC)\n"+
		"👤 новые пользователи: 2\n"+
		"🎁 пробные периоды: 1\n"+
		"💳 оплаты: 2 · $4.99 · 250 ⭐\n"+
		"💰 пополнения: 1 · 600 ⭐\n"+
		"🛒 покупки с баланса: 1\n"+
		"🔄 автопродления: 1\n"+
		"↩️ возвраты: 1 · −250 ⭐\n"+
		"💵 выручка: $4.99 · 600 ⭐\n"+
		"🚫 баны: 1", e.summaries(t)[0].GetText())
	require.Equal(t, chat, e.summaries(t)[0].GetChatId())

	// Later that day, three replicas at once: no second summary.
	e.clock.Set(at(15, 10, 0, 0))
	replicas := []*replica{e.replica(t, "en"), e.replica(t, "en"), e.replica(t, "en")}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Go(func() {
			<-start
			for range 3 {
				assertNoError(t, r.f.Post(context.Background(), worker.Result{}))
			}
		})
	}
	close(start)
	wg.Wait()
	require.Len(t, e.summaries(t), 1, "once a day")

	e.clock.Set(at(16, 9, 30, 0))
	replicas[0].post(t)
	require.Equal(t, []string{"feed:summary:2026-03-14", "feed:summary:2026-03-15"}, dedupIDs(e.summaries(t)))
	require.Equal(t, "📊 Summary of 2026-03-15 (UTC)\n"+
		"👤 new users: 1\n"+
		"🎁 trials: 0\n"+
		"💳 payments: 1 · $9.99\n"+
		"💰 top-ups: 0\n"+
		"🛒 purchases from balance: 0\n"+
		"🔄 renewals: 0\n"+
		"↩️ refunds: 0\n"+
		"💵 revenue: $9.99\n"+
		"🚫 bans: 1", e.summaries(t)[1].GetText())
	require.Equal(t, e.claimedInOrder(t), dedupIDs(e.feedMessages(t)))

	// Down from before the summary hour of the 17th until after the 18th's:
	// back, it sums up both days it missed, oldest first.
	e.clock.Set(at(18, 10, 0, 0))
	replicas[1].post(t)
	require.Equal(t, []string{"feed:summary:2026-03-14", "feed:summary:2026-03-15", "feed:summary:2026-03-16",
		"feed:summary:2026-03-17"}, dedupIDs(e.summaries(t)))
	// Down for longer, it catches up a week, not more.
	e.clock.Set(at(30, 9, 0, 0))
	replicas[2].post(t)
	got := dedupIDs(e.summaries(t))
	require.Len(t, got, 11)
	require.Equal(t, "feed:summary:2026-03-23", got[4], "the week before the 30th: %v", got)
	require.Equal(t, "feed:summary:2026-03-29", got[10])
	require.Equal(t, e.claimedInOrder(t), dedupIDs(e.feedMessages(t)))
}

func TestASummaryHourOfMidnightSumsUpTheDayJustEnded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.replicaWith(t, 0)
	e.clock.Set(at(15, 0, 0, 0))
	f.post(t)
	sums := e.summaries(t)
	require.Len(t, sums, 1)
	require.Equal(t, "feed:summary:2026-03-14", sums[0].GetDedupId())
	require.True(t, strings.HasSuffix(sums[0].GetText(), "🚫 bans: 0"), fmt.Sprintf("a quiet day is summed up too: %q", sums[0].GetText()))
	require.Contains(t, sums[0].GetText(), "💵 revenue: none")
}
