package reminders_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/reminders/internal/reminders"
)

func TestAPaidSubscriptionIsRemindedOnceAtEachStage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.paid(t, "ru")
	expires := sub.ExpiresAt

	e.clock.Set(expires.Add(-71 * time.Hour))
	require.Equal(t, 1, iterate(t, in)["sent"])
	msgs := e.messages(t)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, sub.UserID, m.GetChatId())
	require.Equal(t, dedupID("reminder_72h", sub), m.GetDedupId())
	require.Equal(t, vpnbotv1.Priority_PRIORITY_REMINDER, m.GetPriority())
	require.Contains(t, m.GetText(), "Ваша подписка заканчивается", "the user's language")
	require.Contains(t, m.GetText(), "(через 3 дня)")
	require.Equal(t, botui.NoticeCallback(botui.ActionPlans, ""), m.GetRows()[0].GetButtons()[0].GetCallbackData(), "the renew button opens the plans")

	require.Zero(t, iterate(t, in)["sent"], "a stage is sent once")
	e.clock.Set(expires.Add(-48 * time.Hour))
	require.Zero(t, iterate(t, in)["sent"], "no stage opened since")

	e.clock.Set(expires.Add(-23*time.Hour - 59*time.Minute))
	require.Equal(t, 1, iterate(t, in)["sent"])
	e.clock.Set(expires.Add(-30 * time.Minute))
	require.Equal(t, 1, iterate(t, in)["sent"])
	require.Zero(t, iterate(t, in)["sent"])
	e.clock.Set(expires.Add(time.Minute))
	require.Equal(t, map[string]int{"ended": 1}, iterate(t, in), "at the end, the end itself")
	require.Empty(t, iterate(t, in))

	msgs = e.messages(t)
	require.Equal(t, []string{dedupID("reminder_72h", sub), dedupID("reminder_24h", sub), dedupID("reminder_1h", sub),
		dedupID("paid_ended", sub)}, dedupIDs(msgs))
	require.Contains(t, msgs[1].GetText(), "(через 24 часа)")
	require.Contains(t, msgs[2].GetText(), "(через 30 минут)")
	sent := in.logs.Events(t, reminders.EventReminderSent)
	require.Len(t, sent, 4)
	require.EqualValues(t, sub.ID, sent[1]["subscription_id"])
	require.Equal(t, "reminder_24h", sent[1]["stage"])
	require.EqualValues(t, 1, metric(t, in, "reminder_24h"))
}

func TestASubscription23HoursFromExpiryGetsThe24HourReminderOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.paid(t, "en")

	e.clock.Set(sub.ExpiresAt.Add(-23 * time.Hour))
	res := iterate(t, in)
	require.Equal(t, 1, res["sent"])
	require.Equal(t, 1, res["skipped"], "the 72 h stage is claimed without a message")
	msgs := e.messages(t)
	require.Equal(t, []string{dedupID("reminder_24h", sub)}, dedupIDs(msgs))
	require.Contains(t, msgs[0].GetText(), "Your subscription ends on")
	require.Contains(t, msgs[0].GetText(), "(in 23 hours)")

	for _, left := range []time.Duration{22 * time.Hour, 5 * time.Hour, 61 * time.Minute} {
		e.clock.Set(sub.ExpiresAt.Add(-left))
		require.Zero(t, iterate(t, in)["sent"], "%s before expiry", left)
	}
	e.clock.Set(sub.ExpiresAt.Add(-59 * time.Minute))
	require.Equal(t, 1, iterate(t, in)["sent"])
	require.Equal(t, []string{dedupID("reminder_24h", sub), dedupID("reminder_1h", sub)}, dedupIDs(e.messages(t)),
		"the 72 h reminder never comes late")
}

func TestARenewedSubscriptionGetsTheNextCyclesReminders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.paid(t, "en")

	e.clock.Set(sub.ExpiresAt.Add(-23 * time.Hour))
	require.Equal(t, 1, iterate(t, in)["sent"])
	renewed := e.pay(t, sub.UserID)
	require.Equal(t, sub.ID, renewed.ID, "the payment extended the running period")
	require.Equal(t, sub.ExpiresAt.AddDate(0, 0, 30), renewed.ExpiresAt)

	require.Zero(t, iterate(t, in)["sent"], "the new expiry is a month away")
	e.clock.Set(renewed.ExpiresAt.Add(-70 * time.Hour))
	require.Equal(t, 1, iterate(t, in)["sent"])
	e.clock.Set(renewed.ExpiresAt.Add(-23 * time.Hour))
	require.Equal(t, 1, iterate(t, in)["sent"])

	msgs := e.messages(t)
	require.Equal(t, []string{dedupID("reminder_24h", sub), dedupID("reminder_72h", renewed), dedupID("reminder_24h", renewed)},
		dedupIDs(msgs))
	require.Contains(t, msgs[2].GetText(), "Your subscription ends on "+dateOf(renewed.ExpiresAt))
}

// dateOf writes t as the English messages do.
func dateOf(t time.Time) string {
	return t.UTC().Format("2 Jan 2006 15:04") + " UTC"
}

func TestTrialsAreLeftToTheTrialNotifier(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	userID := e.user(t, "en")
	trial, err := e.shop.StartTrial(t.Context(), userID)
	require.NoError(t, err)

	for _, left := range []time.Duration{71 * time.Hour, 23 * time.Hour, 30 * time.Minute, -time.Minute} {
		e.clock.Set(trial.ExpiresAt.Add(-left))
		require.Empty(t, iterate(t, in), "%s before the trial ends", left)
	}
	require.Empty(t, e.messages(t), "the trial-notifier sends the trial's own notices, of its end too")

	// Paid for before it ran out: a paid period from then on.
	paid := e.pay(t, userID)
	require.Equal(t, trial.ID, paid.ID)
	e.clock.Set(paid.ExpiresAt.Add(-23 * time.Hour))
	require.Equal(t, 1, iterate(t, in)["sent"])
	require.Equal(t, []string{dedupID("reminder_24h", paid)}, dedupIDs(e.messages(t)))
}

// Users who blocked the bot, and banned users, get no reminder until they
// are back (they pressed /start again, the unban).
func TestUsersWhoBlockedTheBotOrAreBannedAreSkipped(t *testing.T) {
	t.Parallel()
	for _, column := range []string{"blocked_at", "banned_at"} {
		t.Run(column, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			in := e.instance(t, reminders.Config{})
			sub := e.paid(t, "en")
			_, err := e.db.Pool.Exec(t.Context(), `UPDATE users SET `+column+` = now() WHERE id = $1`, sub.UserID)
			require.NoError(t, err)

			e.clock.Set(sub.ExpiresAt.Add(-70 * time.Hour))
			require.Zero(t, iterate(t, in)["sent"])
			require.Empty(t, e.messages(t))

			// Back before the next stage: they get the stage due then.
			_, err = e.db.Pool.Exec(t.Context(), `UPDATE users SET `+column+` = NULL WHERE id = $1`, sub.UserID)
			require.NoError(t, err)
			e.clock.Set(sub.ExpiresAt.Add(-69 * time.Hour))
			require.Equal(t, 1, iterate(t, in)["sent"])
			require.Equal(t, []string{dedupID("reminder_72h", sub)}, dedupIDs(e.messages(t)))
		})
	}
}

func TestThreeInstancesSendEachReminderExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().UTC().Truncate(time.Second)
	e.clock.Set(now)
	// Subscriptions in every stage's window, and some outside all of them.
	lefts := []time.Duration{30 * time.Minute, 5 * time.Hour, 23 * time.Hour, 50 * time.Hour, 71 * time.Hour, 100 * time.Hour}
	due := map[string]bool{}
	for i := range 24 {
		sub := e.paid(t, "en")
		left := lefts[i%len(lefts)]
		e.setExpiry(t, sub.ID, now.Add(left))
		sub.ExpiresAt = now.Add(left)
		switch {
		case left <= time.Hour:
			due[dedupID("reminder_1h", sub)] = true
		case left <= 24*time.Hour:
			due[dedupID("reminder_24h", sub)] = true
		case left <= 72*time.Hour:
			due[dedupID("reminder_72h", sub)] = true
		}
	}
	// Small batches, so that the instances claim side by side many times.
	cfg := reminders.Config{BatchSize: 3}
	instances := []*instance{e.instance(t, cfg), e.instance(t, cfg), e.instance(t, cfg)}
	var mu sync.Mutex
	sent, duplicates := 0, 0
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Go(func() {
			<-start
			for range 3 {
				res, err := in.r.Iterate(t.Context())
				if !assertNoError(t, err) {
					return
				}
				mu.Lock()
				sent += res["sent"]
				duplicates += res["duplicate"]
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	// An instance whose batch lost every race to the others ends its
	// iteration early; one more pass finds anything left.
	sent += iterate(t, instances[0])["sent"]

	ids := dedupIDs(e.messages(t))
	require.Len(t, ids, len(due), "messages: %v", ids)
	for _, id := range ids {
		require.True(t, due[id], "unexpected or repeated reminder %s", id)
		delete(due, id)
	}
	require.Equal(t, len(ids), sent, "every reminder was sent by one instance, and counted by it")
	require.Zero(t, duplicates, "the claims kept the instances apart; the OUTBOX's dedup had nothing to drop")
}

// assertNoError reports err on t from a goroutine other than the test's.
func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("iteration: %v", err)
		return false
	}
	return true
}

func TestARestartedInstanceDoesNotRepeatReminders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.instance(t, reminders.Config{})
	sub := e.paid(t, "en")
	e.clock.Set(sub.ExpiresAt.Add(-23 * time.Hour))
	require.Equal(t, 1, iterate(t, first)["sent"])

	restarted := e.instance(t, reminders.Config{})
	require.Zero(t, iterate(t, restarted)["sent"])
	e.clock.Set(sub.ExpiresAt.Add(-22 * time.Hour))
	require.Zero(t, iterate(t, restarted)["sent"])
	require.Len(t, e.messages(t), 1)
	require.Empty(t, restarted.logs.Events(t, reminders.EventReminderSent))
}

func TestAReminderTheOutboxDidNotTakeIsSentByTheNextIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.paid(t, "en")
	e.clock.Set(sub.ExpiresAt.Add(-23 * time.Hour))
	require.NoError(t, e.js.DeleteStream(t.Context(), outbox.Stream))

	res, err := in.r.Iterate(t.Context())
	require.Error(t, err)
	require.Equal(t, 1, res["failed"])
	require.Len(t, in.logs.Events(t, reminders.EventReminderFailed), 1)

	require.NoError(t, bus.DeclareStreams(t.Context(), e.js, outbox.StreamConfig()))
	require.Equal(t, 1, iterate(t, in)["sent"])
	require.Equal(t, []string{dedupID("reminder_24h", sub)}, dedupIDs(e.messages(t)))
}

func TestAReminderPublishedBeforeItsClaimWasReleasedIsOneMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.paid(t, "en")
	e.clock.Set(sub.ExpiresAt.Add(-23 * time.Hour))
	// An earlier attempt's publish reached the stream but its ack was lost,
	// so its claim was released.
	_, err := outbox.Publish(t.Context(), e.js,
		notify.Reminder("en", sub.UserID, sub.ID, 24*time.Hour, sub.ExpiresAt, e.clock.Now()))
	require.NoError(t, err)

	res := iterate(t, in)
	require.Equal(t, 1, res["duplicate"])
	require.Zero(t, res["sent"])
	require.Len(t, e.messages(t), 1)
	require.Zero(t, iterate(t, in)["duplicate"], "claimed now")
}

func TestTheWorkerRuntimeReportsTheRemindersOfEachIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	var subs []shop.Subscription
	for range 2 {
		subs = append(subs, e.paid(t, "en"))
	}
	e.clock.Set(subs[1].ExpiresAt.Add(-23 * time.Hour))

	w, err := worker.New(worker.Config{Name: "reminders", Interval: time.Hour, IterationTimeout: 5 * time.Second},
		in.r.Iterate, obstest.NewLogger(in.logs), in.reg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	require.Eventually(t, func() bool { return len(in.logs.Events(t, worker.EventIterationEnd)) == 1 }, waitFor, poll)
	end := in.logs.Events(t, worker.EventIterationEnd)[0]
	require.Equal(t, worker.OutcomeOK, end["outcome"])
	require.Len(t, e.messages(t), 2)
	require.Equal(t, map[string]any{"sent": 2.0, "skipped": 2.0}, end["items"], "ITERATION_END counts the reminders and the 72 h stages passed over")
}
