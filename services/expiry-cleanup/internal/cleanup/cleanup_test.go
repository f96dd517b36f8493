package cleanup_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/cleanup"
)

func TestAnExpiredPeriodLosesItsKeyAndItsUserIsToldOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, cleanup.Config{})
	sub := e.expire(t, e.activeKey(t, "ru").ID, 2*time.Hour)
	inGrace := e.expire(t, e.activeKey(t, "en").ID, 30*time.Minute)
	blocked := e.expire(t, e.activeKey(t, "en").ID, 3*time.Hour)
	_, err := e.db.Pool.Exec(t.Context(), `UPDATE users SET blocked_at = now() WHERE id = $1`, blocked.UserID)
	require.NoError(t, err)
	banned := e.expire(t, e.activeKey(t, "en").ID, 3*time.Hour)
	_, err = e.db.Pool.Exec(t.Context(), `UPDATE users SET banned_at = now() WHERE id = $1`, banned.UserID)
	require.NoError(t, err)

	res := iterateOK(t, in)
	require.Equal(t, 3, res[cleanup.ItemRevoked])
	require.Equal(t, 1, res[cleanup.ItemNotified])

	got := e.sub(t, sub.ID)
	require.Equal(t, shop.StatusRevoked, got.Status)
	require.NotNil(t, got.Access.RevokedAt, "the access is marked revoked")
	require.False(t, e.onPanel(t, got), "the account is disabled on the panel")
	require.True(t, e.onPanel(t, e.sub(t, inGrace.ID)), "a period within its grace keeps its key")
	require.Equal(t, shop.StatusActive, e.sub(t, inGrace.ID).Status)
	require.False(t, e.onPanel(t, e.sub(t, blocked.ID)), "a user who blocked the bot loses the key too")
	require.False(t, e.onPanel(t, e.sub(t, banned.ID)), "so does a banned user")

	msgs := e.messages(t)
	require.Len(t, msgs, 1, "one notice, none to the user who blocked the bot nor to the banned one")
	m := msgs[0]
	require.Equal(t, sub.UserID, m.GetChatId())
	require.Contains(t, m.GetText(), "больше не работает", "in the user's language")
	require.Equal(t, "expired:"+strconv.FormatInt(sub.ID, 10)+":"+strconv.FormatInt(sub.ExpiresAt.Unix(), 10), m.GetDedupId())
	require.Equal(t, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, m.GetPriority())
	require.Equal(t, botui.NoticeCallback(botui.ActionPlans, ""), m.GetRows()[0].GetButtons()[0].GetCallbackData())

	revoked := in.logs.Events(t, cleanup.EventAccessRevoked)
	require.Len(t, revoked, 3)
	ids := []any{revoked[0]["subscription_id"], revoked[1]["subscription_id"], revoked[2]["subscription_id"]}
	require.Contains(t, ids, float64(sub.ID))
	for _, r := range revoked {
		if r["subscription_id"] == float64(sub.ID) {
			require.Equal(t, sub.Access.ExternalID, r["access_id"])
			require.Equal(t, "expired", r["reason"])
		}
	}
	require.NotContains(t, in.logs.String(), sub.Access.URL, "the key is a credential: it is not logged")

	res = iterateOK(t, in)
	require.Zero(t, res[cleanup.ItemRevoked]+res[cleanup.ItemNotified], "a revoked, notified period is left alone")
	restarted := e.instance(t, cleanup.Config{})
	res = iterateOK(t, restarted)
	require.Zero(t, res[cleanup.ItemRevoked]+res[cleanup.ItemNotified], "a new instance does not repeat them")
	require.Len(t, e.messages(t), 1)
}

func TestThreeInstancesRevokeAndNotifyEachPeriodOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindRemnawave)
	var subs []shop.Subscription
	for range 6 {
		subs = append(subs, e.expire(t, e.activeKey(t, "en").ID, 2*time.Hour))
	}
	instances := []*instance{
		e.instance(t, cleanup.Config{Concurrency: 2}),
		e.instance(t, cleanup.Config{Concurrency: 2}),
		e.instance(t, cleanup.Config{Concurrency: 2}),
	}
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Go(func() { iterateOK(t, in) })
	}
	wg.Wait()

	for _, s := range subs {
		require.False(t, e.onPanel(t, e.sub(t, s.ID)), "an account still works")
	}
	require.Equal(t, len(subs), e.revokeCalls(), "one revocation per period reached the panel")
	revoked := 0
	for _, in := range instances {
		revoked += len(in.logs.Events(t, cleanup.EventAccessRevoked))
	}
	require.Equal(t, len(subs), revoked, "one ACCESS_REVOKED per period")
	msgs := e.messages(t)
	require.Len(t, msgs, len(subs))
	seen := map[int64]int{}
	for _, m := range msgs {
		seen[m.GetChatId()]++
	}
	for _, s := range subs {
		require.Equal(t, 1, seen[s.UserID])
		require.Equal(t, shop.StatusRevoked, e.sub(t, s.ID).Status)
	}
}

// The panel gets at most Concurrency revocations at once, however many
// periods are in progress.
func TestThePanelGetsAtMostConcurrencyRevocationsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	const periods = 24
	for range periods {
		e.expire(t, e.activeKey(t, "en").ID, 2*time.Hour)
	}
	e.sb.Latency(20 * time.Millisecond)
	counted := vpntest.NewPeak(e.panel)
	e.panel = counted
	in := e.instance(t, cleanup.Config{Concurrency: 3})

	res := iterateOK(t, in)
	require.Equal(t, periods, res[cleanup.ItemRevoked])
	require.Equal(t, periods, e.revokeCalls(), "every account disabled")
	most := counted.Most()
	require.LessOrEqual(t, most, 3, "more revocations at once than the concurrency")
	require.GreaterOrEqual(t, most, 2, "the revocations never overlapped: the count proves nothing")
}

func TestAPanelDownIsRetriedAndNoKeyOutlivesGraceOnceItIsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, cleanup.Config{})
	sub := e.expire(t, e.activeKey(t, "en").ID, 2*time.Hour)
	e.failRevoke(false)

	for attempt := 1; attempt <= 2; attempt++ {
		res, err := iterate(t, in)
		require.ErrorIs(t, err, vpn.ErrUnavailable, "the iteration tells on-call it failed")
		require.Equal(t, 1, res[cleanup.ItemFailed])
		require.Equal(t, attempt, e.revokeCalls(), "each iteration retries")
		got := e.sub(t, sub.ID)
		require.Equal(t, shop.StatusActive, got.Status, "nothing marked while the panel is down")
		require.Nil(t, got.Access.RevokedAt)
		require.Empty(t, e.messages(t))
	}
	require.Len(t, in.logs.Events(t, cleanup.EventRevocationFailed), 2)
	require.EqualValues(t, 3, metric(t, in, "vpnbot_expiry_panel_errors_total"),
		"two revocations, and the first iteration's reconciliation")
	require.EqualValues(t, 1, metric(t, in, "vpnbot_expiry_unrevoked_overdue"))
	require.Greater(t, metric(t, in, "vpnbot_expiry_unrevoked_overdue_seconds"), (59 * time.Minute).Seconds(),
		"on-call sees how long the key has outlived its period")

	e.clearFaults()
	res := iterateOK(t, in)
	require.Equal(t, 1, res[cleanup.ItemRevoked])
	got := e.sub(t, sub.ID)
	require.Equal(t, shop.StatusRevoked, got.Status)
	require.False(t, e.onPanel(t, got), "no key left alive once the panel is back")
	require.Len(t, e.messages(t), 1)
	require.Zero(t, metric(t, in, "vpnbot_expiry_unrevoked_overdue"))
	require.Zero(t, metric(t, in, "vpnbot_expiry_unrevoked_overdue_seconds"))
}

// The overdue gauges count, in the database, every live access past expiry
// + grace that the iteration left, tried or not: here the ones beyond the
// batch. A period in its grace, one revoked and one that never had an
// access are not counted.
func TestOverdueGaugesCountTheAccessesLeftPastGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, cleanup.Config{BatchSize: 1})
	noAccess := e.trialWithoutKey(t)
	e.expire(t, noAccess.ID, 5*time.Hour) // first in line: the batch takes it
	for _, ago := range []time.Duration{4 * time.Hour, 3 * time.Hour, 2 * time.Hour} {
		e.expire(t, e.activeKey(t, "en").ID, ago)
	}
	e.expire(t, e.activeKey(t, "en").ID, 30*time.Minute)

	require.Equal(t, 1, iterateOK(t, in)[cleanup.ItemRevoked])
	require.Equal(t, shop.StatusRevoked, e.sub(t, noAccess.ID).Status, "the batch was the period without a key")
	require.EqualValues(t, 3, metric(t, in, "vpnbot_expiry_unrevoked_overdue"), "the keys the iteration did not reach")
	require.InDelta(t, (3 * time.Hour).Seconds(), metric(t, in, "vpnbot_expiry_unrevoked_overdue_seconds"), 60,
		"the oldest expired 4 h ago: 3 h past its grace")

	require.Equal(t, 1, iterateOK(t, in)[cleanup.ItemRevoked])
	require.EqualValues(t, 2, metric(t, in, "vpnbot_expiry_unrevoked_overdue"))
	require.InDelta(t, (2 * time.Hour).Seconds(), metric(t, in, "vpnbot_expiry_unrevoked_overdue_seconds"), 60)

	iterateOK(t, in)
	iterateOK(t, in)
	require.Zero(t, metric(t, in, "vpnbot_expiry_unrevoked_overdue"), "the one in its grace is not overdue")
	require.Zero(t, metric(t, in, "vpnbot_expiry_unrevoked_overdue_seconds"))
}

func TestAHangingPanelEndsTheIterationAtItsTimeoutAndTheNextOneRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindRemnawave)
	in := e.instance(t, cleanup.Config{})
	sub := e.expire(t, e.activeKey(t, "en").ID, 2*time.Hour)
	e.failRevoke(true)

	w, err := worker.New(worker.Config{Name: "expiry-cleanup", Interval: 50 * time.Millisecond,
		IterationTimeout: 300 * time.Millisecond, StopGrace: time.Second}, in.c.Iterate, obstest.NewLogger(in.logs), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	require.Eventually(t, func() bool {
		for _, end := range in.logs.Events(t, worker.EventIterationEnd) {
			if end["outcome"] == worker.OutcomeTimeout {
				return true
			}
		}
		return false
	}, waitFor, poll, "no ITERATION_END with outcome timeout")
	require.NotEmpty(t, in.logs.Events(t, worker.EventWorkerTimeout))
	require.Equal(t, shop.StatusActive, e.sub(t, sub.ID).Status, "nothing marked while the panel hangs")
	require.Eventually(t, func() bool { return metric(t, in, "vpnbot_expiry_unrevoked_overdue") == 1 }, waitFor, poll,
		"iterations that time out still count the overdue access")

	e.clearFaults()
	require.Eventually(t, func() bool { return len(e.messages(t)) == 1 }, waitFor, poll, "the next iterations did not revoke and notify")
	got := e.sub(t, sub.ID)
	require.Equal(t, shop.StatusRevoked, got.Status)
	require.False(t, e.onPanel(t, got))
}

func TestNoticesTheOutboxRefusedAreSentByTheNextIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, cleanup.Config{Concurrency: 2})
	const periods = 5
	for range periods {
		e.expire(t, e.activeKey(t, "en").ID, 2*time.Hour)
	}
	require.NoError(t, e.js.DeleteStream(t.Context(), outbox.Stream))

	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	res, err := in.c.Iterate(ctx)
	require.Error(t, err, "notices that did not reach the sender fail the iteration")
	require.Equal(t, periods, res[cleanup.ItemRevoked], "revoked all the same")
	require.Zero(t, res[cleanup.ItemNotified])

	require.NoError(t, bus.DeclareStreams(t.Context(), e.js, outbox.StreamConfig()))
	res = iterateOK(t, in)
	require.Equal(t, periods, res[cleanup.ItemNotified], "the refused notices were released for the next iteration")
	require.Len(t, e.messages(t), periods)
}

func TestAPaymentInGraceKeepsTheKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, cleanup.Config{})
	sub := e.expire(t, e.activeKey(t, "en").ID, 30*time.Minute)

	require.Zero(t, iterateOK(t, in)[cleanup.ItemRevoked], "within its grace")
	paid := e.pay(t, sub.UserID)
	require.Equal(t, sub.ID, paid.ID, "the payment extended the period")
	require.True(t, paid.ExpiresAt.After(time.Now().Add(29*24*time.Hour)))

	// Past the old expiry + grace, as a 1 s grace makes it.
	short := e.instance(t, cleanup.Config{Grace: time.Second})
	res := iterateOK(t, short)
	require.Zero(t, res[cleanup.ItemRevoked])
	got := e.sub(t, sub.ID)
	require.Equal(t, shop.StatusActive, got.Status)
	require.True(t, e.onPanel(t, got), "the paid-for key keeps working")
	require.Empty(t, e.messages(t))
}

func TestAPaymentDuringTheRevocationKeepsThePeriodWithoutANotice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, cleanup.Config{})
	sub := e.expire(t, e.activeKey(t, "en").ID, 2*time.Hour)
	e.failRevoke(true)

	type outcome struct {
		res map[string]int
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := in.c.Iterate(t.Context())
		done <- outcome{res, err}
	}()
	require.Eventually(t, func() bool { return e.revokeCalls() == 1 }, waitFor, poll, "the revocation did not reach the panel")
	paid := e.pay(t, sub.UserID)
	e.clearFaults() // the panel now disables the account

	var out outcome
	select {
	case out = <-done:
	case <-time.After(waitFor):
		t.Fatal("the iteration did not end")
	}
	require.NoError(t, out.err)
	require.Equal(t, 1, out.res[cleanup.ItemRenewed])
	require.Zero(t, out.res[cleanup.ItemRevoked]+out.res[cleanup.ItemNotified])
	got := e.sub(t, sub.ID)
	require.Equal(t, shop.StatusActive, got.Status, "the paid period stays active")
	require.True(t, got.ExpiresAt.Equal(paid.ExpiresAt))
	require.NotNil(t, got.Access.RevokedAt, "its disabled account is marked so, for activation to enable it again")
	pending, err := e.shop.PendingActivations(t.Context(), 10)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, sub.ID, pending[0].ID)
	require.Empty(t, e.messages(t), "no \"your key no longer works\" to a user who just paid")
	require.Len(t, in.logs.Events(t, cleanup.EventRenewedWhileRevoking), 1)
}

func TestReconciliationRunsEveryNthIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, cleanup.Config{ReconcileEvery: 3})
	for range 4 {
		iterateOK(t, in)
	}
	require.Len(t, in.logs.Events(t, cleanup.EventOrphansRevoked), 2, "iterations 1 and 4 reconcile")
}
