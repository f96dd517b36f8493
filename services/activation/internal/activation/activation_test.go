package activation_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

func TestATrialGetsItsKeyInOneIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, activation.Config{App: "https://app.example.com/"})
	sub := e.trial(t, newUserID(), "ru")

	res := iterate(t, in)
	require.Equal(t, 1, res["created"])
	require.Equal(t, 1, res["delivered"])

	acc := e.access(t, sub.ID)
	require.NotNil(t, acc, "no access recorded")
	require.Equal(t, 1, e.keys())
	msgs := e.messages(t)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, sub.UserID, m.GetChatId())
	require.Contains(t, m.GetText(), "<code>"+acc.URL+"</code>")
	require.Contains(t, m.GetText(), "Ваш ключ", "the user's language")
	require.True(t, bytes.HasPrefix(m.GetPhoto(), []byte("\x89PNG")), "the QR code is a PNG")
	require.Equal(t, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, m.GetPriority())
	require.Equal(t, "https://app.example.com/", m.GetRows()[0].GetButtons()[0].GetWebAppUrl(), "the key message opens the app")
	created := in.logs.Events(t, activation.EventAccessCreated)
	require.Len(t, created, 1)
	require.EqualValues(t, sub.ID, created[0]["subscription_id"])
	require.NotContains(t, in.logs.String(), acc.URL, "the key is a credential: it is not logged")

	res = iterate(t, in)
	require.Zero(t, res["created"]+res["delivered"], "an activated, delivered period is left alone")
	require.Len(t, e.messages(t), 1)
}

func TestThreeInstancesMakeOneKeyAndOneMessagePerSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindRemnawave)
	var subs []shop.Subscription
	for range 6 {
		subs = append(subs, e.trial(t, newUserID(), "en"))
	}
	instances := []*instance{e.instance(t, activation.Config{}), e.instance(t, activation.Config{}), e.instance(t, activation.Config{})}
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Go(func() { iterate(t, in) })
	}
	wg.Wait()

	require.Equal(t, len(subs), e.keys(), "one key per subscription on the panel")
	msgs := e.messages(t)
	seen := map[int64]int{}
	for _, m := range msgs {
		seen[m.GetChatId()]++
	}
	for _, s := range subs {
		require.Equal(t, 1, seen[s.UserID], "messages: %v", msgs)
		require.NotNil(t, e.access(t, s.ID))
	}
	require.Len(t, msgs, len(subs))
}

// The panel gets at most Concurrency calls at once, however many periods
// are in progress, and every key is still delivered once.
func TestThePanelGetsAtMostConcurrencyCallsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	e.sb.Latency(20 * time.Millisecond)
	counted := vpntest.NewPeak(e.panel)
	e.panel = counted
	in := e.instance(t, activation.Config{Concurrency: 3})
	const periods = 24
	for range periods {
		e.trial(t, newUserID(), "en")
	}

	res := iterate(t, in)
	require.Equal(t, periods, res["created"])
	require.Equal(t, periods, res["delivered"])
	require.Len(t, e.messages(t), periods)
	most := counted.Most()
	require.LessOrEqual(t, most, 3, "more panel calls at once than the concurrency")
	require.GreaterOrEqual(t, most, 2, "the calls never overlapped: the count proves nothing")
}

func TestAHangingPanelEndsTheIterationAtItsTimeoutAndTheNextOneRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, activation.Config{})
	sub := e.trial(t, newUserID(), "en")
	e.fail(true)

	runWorker(t, in, worker.Config{Name: "activation", Interval: 50 * time.Millisecond,
		IterationTimeout: 300 * time.Millisecond, StopGrace: time.Second})

	require.Eventually(t, func() bool {
		for _, end := range in.logs.Events(t, worker.EventIterationEnd) {
			if end["outcome"] == worker.OutcomeTimeout {
				return true
			}
		}
		return false
	}, waitFor, poll, "no ITERATION_END with outcome timeout")
	require.NotEmpty(t, in.logs.Events(t, worker.EventWorkerTimeout))
	require.Nil(t, e.access(t, sub.ID), "nothing recorded while the panel hangs")

	e.clearFaults()
	require.Eventually(t, func() bool { return len(e.messages(t)) == 1 }, waitFor, poll, "the next iterations did not deliver the key")
	require.NotNil(t, e.access(t, sub.ID))
	require.Equal(t, 1, e.keys())
}

// A panel that answers errors fails the worker's iterations: on-call and
// the status page see outcome error, not ok beside a count of failed items.
func TestAFailingPanelFailsTheWorkersIterations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, activation.Config{})
	e.trial(t, newUserID(), "en")
	e.fail(false)

	runWorker(t, in, worker.Config{Name: "activation", Interval: 50 * time.Millisecond})
	require.Eventually(t, func() bool {
		v, _ := obstest.Metric(t, in.reg, "vpnbot_worker_iterations_total", map[string]string{"worker": "activation", "outcome": worker.OutcomeError})
		return v >= 2
	}, waitFor, poll, "no iterations with outcome error while the panel fails")
	ok, _ := obstest.Metric(t, in.reg, "vpnbot_worker_iterations_total", map[string]string{"worker": "activation", "outcome": worker.OutcomeOK})
	require.Zero(t, ok, "an iteration ended ok while the panel failed")
	ends := in.logs.Events(t, worker.EventIterationEnd)
	require.NotEmpty(t, ends)
	require.Contains(t, ends[0]["error"], "1 of 1 activations failed")
}

func TestAPanelDownIsRetriedWithAGrowingDelayAndSucceedsWhenBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, activation.Config{RetryBase: 200 * time.Millisecond})
	subs := []shop.Subscription{e.trial(t, newUserID(), "en"), e.trial(t, newUserID(), "en")}
	e.fail(false)

	iterateFailing(t, in, 2, 2)
	for _, sub := range subs {
		require.Nil(t, e.access(t, sub.ID), "a failed activation records nothing")
	}
	require.Empty(t, e.messages(t))
	require.EqualValues(t, 2, metric(t, in, "vpnbot_activation_panel_errors_total"))
	require.Len(t, in.logs.Events(t, activation.EventActivationFailed), 2)

	res := iterateFailing(t, in, 1, 1) // one tried anyway, to see whether the panel is back
	require.Equal(t, 1, res["deferred"], "the other not retried before its delay")

	e.clearFaults()
	created := 0
	require.Eventually(t, func() bool { created += iterate(t, in)["created"]; return created == 2 }, waitFor, poll)
	for _, sub := range subs {
		require.NotNil(t, e.access(t, sub.ID))
	}
	require.Len(t, e.messages(t), 2)
	require.Equal(t, 2, e.keys())
}

// TestAPanelBackReleasesThePeriodsItFailed is a panel outage that outlasts
// the periods' first delays: once the panel is back, every period it failed
// is activated within two iterations, not after its own grown delay (here an
// hour).
func TestAPanelBackReleasesThePeriodsItFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, activation.Config{RetryBase: time.Hour})
	subs := []shop.Subscription{e.trial(t, newUserID(), "en"), e.trial(t, newUserID(), "en"), e.trial(t, newUserID(), "en")}
	e.fail(false)
	iterateFailing(t, in, 3, 3)
	res := iterateFailing(t, in, 1, 1) // a probe while the panel is down
	require.Equal(t, 2, res["deferred"])

	e.clearFaults()
	created := iterate(t, in)["created"]
	require.Positive(t, created, "the probe finds the panel back")
	created += iterate(t, in)["created"]
	require.Equal(t, 3, created, "the probe released the others")
	for _, sub := range subs {
		require.NotNil(t, e.access(t, sub.ID))
	}
	require.Len(t, e.messages(t), 3)
}

func TestAPaidExtensionMovesTheExpiryOnThePanelAndSendsNoNewKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindRemnawave)
	in := e.instance(t, activation.Config{})
	sub := e.trial(t, newUserID(), "en")
	iterate(t, in)
	require.Len(t, e.messages(t), 1)

	inv, err := e.shop.CreateOrder(t.Context(), sub.UserID, "m1", shop.ProviderStars)
	require.NoError(t, err)
	paid, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-1")
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, sub.ID, paid.ID, "the payment extended the trial's period")

	res := iterate(t, in)
	require.Equal(t, 1, res["extended"])
	require.Zero(t, res["delivered"])
	require.Equal(t, 1, e.keys(), "no new account")
	acc, found := e.sb.Account(t, vpn.AccountName(vpn.DefaultNamePrefix, sub.UserID))
	require.True(t, found)
	require.True(t, acc.ExpiresAt.Equal(paid.ExpiresAt), "panel expiry %s, want %s", acc.ExpiresAt, paid.ExpiresAt)
	require.Len(t, e.messages(t), 1, "an extension sends no new key")
	require.Len(t, in.logs.Events(t, activation.EventAccessExtended), 1)
}

func TestAnActivationRequestWakesTheWorkerBeforeItsInterval(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, activation.Config{})
	w, err := worker.New(worker.Config{Name: "activation", Interval: time.Hour, IterationTimeout: 5 * time.Second},
		in.a.Iterate, obstest.NewLogger(in.logs), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })
	wake, err := activation.WakeConsumer(e.js, w.WakeFrom, obstest.NewLogger(in.logs), nil)
	require.NoError(t, err)
	wg.Go(func() { _ = wake.Run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	// The first iteration runs at start, with nothing to do.
	require.Eventually(t, func() bool { return len(in.logs.Events(t, worker.EventIterationEnd)) == 1 }, waitFor, poll)
	require.Eventually(t, func() bool {
		c, err := e.js.Consumer(t.Context(), events.Stream, activation.Durable)
		return err == nil && c != nil
	}, waitFor, poll, "the consumer was not declared")

	sub := e.trial(t, newUserID(), "en")
	require.NoError(t, events.PublishActivationRequested(t.Context(), e.js, &vpnbotv1.ActivationRequested{
		SubscriptionId: sub.ID, UserId: sub.UserID, Reason: "trial", RequestedAt: timestamppb.Now(),
	}))
	require.Eventually(t, func() bool { return len(e.messages(t)) == 1 }, waitFor, poll, "the event did not wake the worker")
	require.NotNil(t, e.access(t, sub.ID))
}

func TestAKeyRecordedButNotDeliveredIsDeliveredByTheNextIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, activation.Config{})
	sub := e.trial(t, newUserID(), "en")
	// An instance killed after recording the access, before publishing.
	_, err := e.shop.Activate(t.Context(), sub.ID, e.fleet(t, 0))
	require.NoError(t, err)

	res := iterate(t, in)
	require.Zero(t, res["created"])
	require.Equal(t, 1, res["delivered"])
	msgs := e.messages(t)
	require.Len(t, msgs, 1, "messages: %v", msgs)
	require.Equal(t, sub.UserID, msgs[0].GetChatId(), describe(msgs[0]))
}

func TestKeysTheOutboxRefusedAreDeliveredByTheNextIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindOutline)
	in := e.instance(t, activation.Config{})
	const periods = 3
	for range periods {
		e.trial(t, newUserID(), "en")
	}
	require.NoError(t, e.js.DeleteStream(t.Context(), outbox.Stream))

	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	res, err := in.a.Iterate(ctx)
	require.Error(t, err, "keys that did not reach the sender fail the iteration")
	require.Equal(t, periods, res["created"], "activated all the same")
	require.Zero(t, res["delivered"])
	require.Len(t, in.logs.Events(t, activation.EventKeyDeliveryFailed), periods)

	require.NoError(t, bus.DeclareStreams(t.Context(), e.js, outbox.StreamConfig()))
	res = iterate(t, in)
	require.Zero(t, res["created"])
	require.Equal(t, periods, res["delivered"], "the keys were not recorded as delivered")
	require.Len(t, e.messages(t), periods)
	require.Zero(t, iterate(t, in)["delivered"], "and now they are")
}

// A user who asked for a new link gets it in one iteration, delivered like
// a new key, and the old link stops working.
func TestANewLinkIsMadeAndDeliveredInOneIteration(t *testing.T) {
	t.Parallel()
	for _, kind := range vpntest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			in := e.instance(t, activation.Config{})
			sub := e.trial(t, newUserID(), "en")
			iterate(t, in)
			old := e.access(t, sub.ID)
			require.Len(t, e.messages(t), 1)

			found, err := e.shop.RequestNewLink(t.Context(), sub.UserID)
			require.NoError(t, err)
			require.True(t, found)
			res := iterate(t, in)
			require.Equal(t, 1, res["rotated"])
			require.Equal(t, 1, res["delivered"])
			now := e.access(t, sub.ID)
			require.NotEqual(t, old.URL, now.URL)
			require.False(t, e.sb.LinkWorks(old.URL), "the old link still works")
			require.True(t, e.sb.LinkWorks(now.URL), "the new link does not work")
			msgs := e.messages(t)
			require.Len(t, msgs, 2)
			require.Contains(t, msgs[1].GetText(), now.URL)
			require.Len(t, in.logs.Events(t, activation.EventLinkRotated), 1)

			res = iterate(t, in)
			require.Zero(t, res["rotated"]+res["delivered"], "asked once, rotated once")
		})
	}
}

// A rotation the panel fails is retried by the next iteration, and the
// iteration says it failed.
func TestAFailedRotationIsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindRemnawave)
	in := e.instance(t, activation.Config{})
	sub := e.trial(t, newUserID(), "en")
	iterate(t, in)
	_, err := e.shop.RequestNewLink(t.Context(), sub.UserID)
	require.NoError(t, err)

	e.fail(false)
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	res, err := in.a.Iterate(ctx)
	require.ErrorContains(t, err, "1 of 1 link rotations failed")
	require.Equal(t, 1, res["failed"])
	require.Len(t, in.logs.Events(t, activation.EventRotationFailed), 1)

	e.clearFaults()
	res = iterate(t, in)
	require.Equal(t, 1, res["rotated"])
	require.Equal(t, 1, res["delivered"])
}

// The key-delivery SLI measures from the period's grant, not from the
// iteration that activated it: a period that waited 5 minutes (the panel
// was down) is a slow delivery however fast its activation went.
func TestDeliveryIsTimedFromThePeriodsGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, vpn.KindRemnawave)
	in := e.instance(t, activation.Config{})
	fresh, waited := e.trial(t, newUserID(), "en"), e.trial(t, newUserID(), "en")
	_, err := e.db.Pool.Exec(t.Context(), `UPDATE subscriptions SET updated_at = updated_at - interval '5 minutes' WHERE id = $1`, waited.ID)
	require.NoError(t, err)

	require.Equal(t, 2, iterate(t, in)["created"])
	within, total := deliveryBucket(t, in, shop.KindTrial, 60)
	require.EqualValues(t, 2, total, "both trials' keys were delivered")
	require.EqualValues(t, 1, within, "the one granted 5 minutes ago was not delivered within 60 s")
	_, paid := deliveryBucket(t, in, shop.KindPaid, 60)
	require.Zero(t, paid)

	inv, err := e.shop.CreateOrder(t.Context(), fresh.UserID, "m1", shop.ProviderStars)
	require.NoError(t, err)
	_, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-1")
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, 1, iterate(t, in)["extended"])
	within, paid = deliveryBucket(t, in, shop.KindPaid, 60)
	require.EqualValues(t, 1, paid, "the payment's extension is on the panel: the paid days work")
	require.EqualValues(t, 1, within)
}

// deliveryBucket reads vpnbot_activation_delivery_seconds{kind}: the
// deliveries within le seconds, and all of them.
func deliveryBucket(t *testing.T, in *instance, kind string, le float64) (within, total uint64) {
	t.Helper()
	families, err := in.reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "vpnbot_activation_delivery_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() != kind {
				continue
			}
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				if b.GetUpperBound() == le {
					return b.GetCumulativeCount(), h.GetSampleCount()
				}
			}
		}
	}
	t.Fatalf("no vpnbot_activation_delivery_seconds{kind=%q} with a bucket le=%g", kind, le)
	return 0, 0
}
