package reminders_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/reminders/internal/reminders"
)

// m1Stars is what plan m1 (30 days) costs in stars.
const m1Stars = 250

// renewer is a user speaking lang with a paid month of plan m1, auto-renewal
// on (the plan they bought) and stars on their balance.
func (e *env) renewer(t *testing.T, lang string, stars int64) shop.Subscription {
	t.Helper()
	sub := e.paid(t, lang)
	a, err := e.shop.SetAutoRenew(t.Context(), sub.UserID, true, "")
	require.NoError(t, err)
	require.Equal(t, "m1", a.Plan.ID)
	if stars > 0 {
		e.topUpStars(t, sub.UserID, stars)
	}
	return sub
}

// topUpStars adds stars to the user's balance as a paid Stars top-up does.
func (e *env) topUpStars(t *testing.T, userID, stars int64) {
	t.Helper()
	req := fmt.Sprintf("topup-%d-%d", userID, time.Now().UnixNano())
	inv, err := e.shop.CreateStarsTopUpOnce(t.Context(), req, userID, stars)
	require.NoError(t, err)
	_, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-"+req)
	require.NoError(t, err)
	require.True(t, applied)
}

// stars is the user's XTR balance.
func (e *env) stars(t *testing.T, userID int64) int64 {
	t.Helper()
	b, err := e.shop.Balance(t.Context(), userID, shop.CurrencyXTR)
	require.NoError(t, err)
	return b
}

// expiry is the period's expiry now.
func (e *env) expiry(t *testing.T, subID int64) time.Time {
	t.Helper()
	sub, err := e.shop.Subscription(t.Context(), subID)
	require.NoError(t, err)
	return sub.ExpiresAt
}

// renewalRows counts the period's renewals in the ledger.
func (e *env) renewalRows(t *testing.T, subID int64) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.Pool.QueryRow(t.Context(),
		`SELECT count(*) FROM ledger WHERE kind = 'renewal' AND subscription_id = $1`, subID).Scan(&n))
	return n
}

// renewalMessages are the auto-renewal's messages in the OUTBOX, in the
// order published: the reminders' are left out.
func (e *env) renewalMessages(t *testing.T) []*vpnbotv1.SendMessage {
	t.Helper()
	var out []*vpnbotv1.SendMessage
	for _, m := range e.messages(t) {
		if strings.HasPrefix(m.GetDedupId(), "renewal:") || strings.HasPrefix(m.GetDedupId(), shop.NoticeRenewShort+":") {
			out = append(out, m)
		}
	}
	return out
}

// iterateAtOnce runs one iteration of each instance, all released at once,
// and returns the sum of their items.
func iterateAtOnce(t *testing.T, instances []*instance) map[string]int {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sum := map[string]int{}
	start := make(chan struct{})
	for _, in := range instances {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(t.Context(), waitFor)
			defer cancel()
			res, err := in.r.Iterate(ctx)
			if assertNoError(t, err) {
				mu.Lock()
				for k, v := range res {
					sum[k] += v
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	return sum
}

// Three replicas iterate at once, cycle after cycle: each period is charged
// once per cycle, extended by its plan once, and its user gets one receipt.
func TestThreeReplicasRenewEachPeriodOncePerCycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	instances := []*instance{
		e.instance(t, reminders.Config{}), e.instance(t, reminders.Config{}), e.instance(t, reminders.Config{}),
	}
	const cycles = 3
	var subs []shop.Subscription
	for _, lang := range []string{"en", "ru", "en", "ru"} {
		subs = append(subs, e.renewer(t, lang, cycles*m1Stars))
	}
	last := subs[len(subs)-1].ExpiresAt

	var want []string
	for cycle := range cycles {
		// An hour before the last of them ends: all are within the lead.
		e.clock.Set(last.Add(time.Duration(cycle) * 30 * 24 * time.Hour).Add(-time.Hour))
		res := iterateAtOnce(t, instances)
		require.Equal(t, len(subs), res["renewed"], "cycle %d: %v", cycle, res)
		require.Equal(t, len(subs), res["receipts"], "cycle %d: each receipt sent by the replica that renewed", cycle)
		require.Zero(t, res["duplicate"], "cycle %d", cycle)
		require.Zero(t, res["short"], "cycle %d", cycle)
		for i, sub := range subs {
			expires := sub.ExpiresAt.Add(time.Duration(cycle) * 30 * 24 * time.Hour)
			want = append(want, shop.RenewalKey(sub.ID, expires))
			require.Equal(t, expires.Add(30*24*time.Hour), e.expiry(t, sub.ID), "cycle %d, period %d", cycle, i)
			require.Equal(t, cycle+1, e.renewalRows(t, sub.ID), "cycle %d, period %d", cycle, i)
			require.EqualValues(t, (cycles-cycle-1)*m1Stars, e.stars(t, sub.UserID), "cycle %d, period %d", cycle, i)
		}
		require.Zero(t, iterate(t, instances[cycle])["renewed"], "cycle %d: renewed once", cycle)
	}
	msgs := e.renewalMessages(t)
	require.ElementsMatch(t, want, dedupIDs(msgs))
	require.Equal(t, cycles*len(subs), eventCount(t, instances, reminders.EventRenewed))
	var pending int
	require.NoError(t, e.db.Pool.QueryRow(t.Context(),
		`SELECT count(*) FROM notifications_sent WHERE kind = $1 AND pending_pid IS NOT NULL`, shop.NoticeRenewed).Scan(&pending))
	require.Zero(t, pending, "every receipt recorded sent")
	repeated, err := e.shop.RepeatedRenewals(t.Context(), reminders.DefaultRenewLead)
	require.NoError(t, err)
	require.Zero(t, repeated)

	receipt := msgs[0]
	require.Contains(t, []int64{subs[0].UserID, subs[1].UserID, subs[2].UserID, subs[3].UserID}, receipt.GetChatId())
	require.Equal(t, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, receipt.GetPriority())
	for _, m := range msgs {
		if m.GetChatId() == subs[0].UserID && m.GetDedupId() == shop.RenewalKey(subs[0].ID, subs[0].ExpiresAt) {
			require.Equal(t, "🔄 Your subscription was renewed for 30 days from your balance: ⭐250.\n"+
				"It now runs until "+dateOf(subs[0].ExpiresAt.Add(30*24*time.Hour))+". Left on your balance: ⭐500.", m.GetText())
		}
		if m.GetChatId() == subs[1].UserID {
			require.Contains(t, m.GetText(), "Подписка продлена на 30 дней за счёт баланса", "the user's language")
		}
	}
}

// eventCount counts the log lines of event over the instances.
func eventCount(t *testing.T, instances []*instance, event string) int {
	t.Helper()
	n := 0
	for _, in := range instances {
		n += len(in.logs.Events(t, event))
	}
	return n
}

// A balance short of the renewal is told once per cycle, by one of the
// replicas, while the renewal is tried on every iteration: a top-up before
// the end renews the period.
func TestAShortBalanceIsToldOnceAndATopUpInTimeRenews(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	instances := []*instance{
		e.instance(t, reminders.Config{}), e.instance(t, reminders.Config{}), e.instance(t, reminders.Config{}),
	}
	sub := e.renewer(t, "en", 100)

	for _, before := range []time.Duration{23 * time.Hour, 12 * time.Hour, 2 * time.Hour} {
		e.clock.Set(sub.ExpiresAt.Add(-before))
		res := iterateAtOnce(t, instances)
		require.Equal(t, len(instances), res["short"], "%s before: every replica tried", before)
		require.Zero(t, res["renewed"])
		if before == 23*time.Hour {
			require.Equal(t, 1, res["warnings"], "told once, by one replica")
		} else {
			require.Zero(t, res["warnings"], "%s before: told already this cycle", before)
		}
	}
	msgs := e.renewalMessages(t)
	require.Len(t, msgs, 1)
	warning := msgs[0]
	require.Equal(t, fmt.Sprintf("renew_short:%d:%d", sub.ID, sub.ExpiresAt.Unix()), warning.GetDedupId())
	require.Contains(t, warning.GetText(), "Your balance is short of auto-renewal: <b>1 month</b> costs $4.99 or ⭐250")
	require.Equal(t, botui.NoticeCallback(botui.ActionAutoRenewTopUp, ""), warning.GetRows()[0].GetButtons()[0].GetCallbackData(),
		"the first button tops the balance up")
	require.Equal(t, sub.ExpiresAt, e.expiry(t, sub.ID))
	require.EqualValues(t, 100, e.stars(t, sub.UserID), "nothing taken")

	e.topUpStars(t, sub.UserID, 150)
	e.clock.Set(sub.ExpiresAt.Add(-time.Hour))
	res := iterateAtOnce(t, instances)
	require.Equal(t, 1, res["renewed"])
	require.Equal(t, 1, res["receipts"])
	require.Zero(t, res["short"])
	require.Equal(t, sub.ExpiresAt.Add(30*24*time.Hour), e.expiry(t, sub.ID))
	require.Zero(t, e.stars(t, sub.UserID))
	require.Equal(t, []string{warning.GetDedupId(), shop.RenewalKey(sub.ID, sub.ExpiresAt)}, dedupIDs(e.renewalMessages(t)))

	// The next cycle, short again, is told again.
	e.clock.Set(sub.ExpiresAt.Add(30*24*time.Hour - 20*time.Hour))
	res = iterate(t, instances[0])
	require.Equal(t, 1, res["short"])
	require.Equal(t, 1, res["warnings"])
}

// Off stops the next charge; on again, the next cycle is renewed.
func TestAutoRenewalTurnedOffIsNotCharged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.renewer(t, "en", 2*m1Stars)
	_, err := e.shop.SetAutoRenew(t.Context(), sub.UserID, false, "")
	require.NoError(t, err)

	e.clock.Set(sub.ExpiresAt.Add(-time.Hour))
	res := iterate(t, in)
	require.Zero(t, res["renewed"])
	require.Zero(t, res["short"])
	require.Empty(t, e.renewalMessages(t))
	require.EqualValues(t, 2*m1Stars, e.stars(t, sub.UserID))
	require.Zero(t, e.renewalRows(t, sub.ID))

	_, err = e.shop.SetAutoRenew(t.Context(), sub.UserID, true, "")
	require.NoError(t, err)
	require.Equal(t, 1, iterate(t, in)["renewed"])
	require.EqualValues(t, m1Stars, e.stars(t, sub.UserID))
}

// A period past its end, in the grace before revocation, is renewed from
// now and keeps its key; a short balance then is not warned of (the notice
// of the end is the reminders').
func TestAPeriodInItsGraceIsRenewedFromNow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	lapsed := e.renewer(t, "en", m1Stars)
	short := e.renewer(t, "en", 0)
	for _, sub := range []shop.Subscription{lapsed, short} {
		e.setExpiry(t, sub.ID, lapsed.ExpiresAt)
	}

	e.clock.Set(lapsed.ExpiresAt.Add(30 * time.Minute))
	res := iterate(t, in)
	require.Equal(t, 1, res["renewed"])
	require.Equal(t, 1, res["short"])
	require.Zero(t, res["warnings"])
	now := e.clock.Now().UTC().Truncate(time.Second)
	require.Equal(t, now.Add(30*24*time.Hour), e.expiry(t, lapsed.ID))
	require.Equal(t, []string{shop.RenewalKey(lapsed.ID, lapsed.ExpiresAt)}, dedupIDs(e.renewalMessages(t)))
}

// A replica that renewed a period and died before its receipt leaves the
// receipt claimed: the next iteration of another takes it over and sends it.
func TestAReceiptWhoseReplicaDiedIsSentByTheNextIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.renewer(t, "en", m1Stars)
	e.clock.Set(sub.ExpiresAt.Add(-time.Hour))

	dying := e.db.Session(t)
	_, applied, err := shop.New(dying, shop.Config{NowFunc: e.clock.Now}).Renew(t.Context(), sub.ID, sub.ExpiresAt)
	require.NoError(t, err)
	require.True(t, applied)
	require.Empty(t, iterate(t, in), "a live replica's receipt is its own")
	dying.Close()

	require.Eventually(t, func() bool { return iterate(t, in)["receipts"] == 1 }, waitFor, poll,
		"the dead replica's receipt was never sent")
	require.Equal(t, []string{shop.RenewalKey(sub.ID, sub.ExpiresAt)}, dedupIDs(e.renewalMessages(t)))
	require.Empty(t, iterate(t, in), "sent once")
}
