package notifier_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/pkg/worker/workertest"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/trial-notifier/internal/notifier"
)

// trialLength is the shop's default trial.
const trialLength = 72 * time.Hour

func periodDedupID(kind string, subscriptionID int64, expires time.Time) string {
	return fmt.Sprintf("%s:%d:%d", kind, subscriptionID, expires.Unix())
}

// button returns the callback data of the message's first button.
func button(m *vpnbotv1.SendMessage) string {
	return m.GetRows()[0].GetButtons()[0].GetCallbackData()
}

func TestATrialGetsItsDayAndHourNoticesThenTheEndedOneEachOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{})
	sub := e.trial(t, "ru")

	require.Empty(t, iterate(t, in), "nothing is due when the trial starts")

	e.clock.Advance(trialLength - 23*time.Hour)
	require.Equal(t, map[string]int{"trial_24h": 1}, iterate(t, in))
	msgs := e.messages(t)
	require.Len(t, msgs, 1)
	day := msgs[0]
	require.Equal(t, sub.UserID, day.GetChatId())
	require.Equal(t, periodDedupID("trial_24h", sub.ID, sub.ExpiresAt), day.GetDedupId())
	require.Contains(t, day.GetText(), "через 24 часа", "the user's language")
	require.Equal(t, botui.NoticeCallback(botui.ActionPlans, ""), button(day))
	require.Equal(t, vpnbotv1.Priority_PRIORITY_REMINDER, day.GetPriority())
	require.Empty(t, iterate(t, in), "the day notice is sent once")

	e.clock.Advance(22*time.Hour + 30*time.Minute)
	require.Equal(t, map[string]int{"trial_1h": 1}, iterate(t, in))
	e.clock.Advance(31 * time.Minute)
	require.Equal(t, map[string]int{"trial_ended": 1}, iterate(t, in))
	e.clock.Advance(time.Hour)
	require.Empty(t, iterate(t, in), "the ended notice is sent once")

	msgs = e.messages(t)
	require.Equal(t, []string{
		periodDedupID("trial_24h", sub.ID, sub.ExpiresAt),
		periodDedupID("trial_1h", sub.ID, sub.ExpiresAt),
		periodDedupID("trial_ended", sub.ID, sub.ExpiresAt),
	}, dedupIDs(msgs))
	require.Contains(t, msgs[1].GetText(), "через час")
	require.Equal(t, botui.NoticeCallback(botui.ActionPlans, ""), button(msgs[1]))
	require.Contains(t, msgs[2].GetText(), "Пробный период закончился")
	require.Equal(t, botui.NoticeCallback(botui.ActionPlans, ""), button(msgs[2]), "the ended notice offers the plans")
	sent := in.logs.Events(t, notifier.EventNoticeSent)
	require.Len(t, sent, 3)
	require.EqualValues(t, sub.ID, sent[2]["subscription_id"])
	require.Equal(t, "trial_ended", sent[2]["kind"])
}

func TestADayNoticeMissedIsNotSentBesideTheHourNotice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{})
	sub := e.trial(t, "en")

	// The worker was down through the day window.
	e.clock.Advance(trialLength - 40*time.Minute)
	require.Equal(t, map[string]int{"trial_1h": 1}, iterate(t, in))
	msgs := e.messages(t)
	require.Equal(t, []string{periodDedupID("trial_1h", sub.ID, sub.ExpiresAt)}, dedupIDs(msgs))
	require.Contains(t, msgs[0].GetText(), "ends in an hour")
}

// demoLeads and demoTrial are make run's: a 15-minute trial told 10 and 5
// minutes before its end.
var demoLeads = notifier.Leads{First: 10 * time.Minute, Last: 5 * time.Minute}

const demoTrial = 15 * time.Minute

func TestAShortTrialGetsItsNoticesAtTheConfiguredLeads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{Leads: demoLeads})
	ru := e.trialOf(t, "ru", demoTrial)
	en := e.trialOf(t, "en", demoTrial)

	e.clock.Advance(4 * time.Minute)
	require.Empty(t, iterate(t, in), "11 minutes left: nothing is due")

	e.clock.Advance(90 * time.Second)
	require.Equal(t, map[string]int{"trial_10m": 2}, iterate(t, in), "the first notice, counted under its own lead")
	require.Empty(t, iterate(t, in), "the first notice is sent once")

	e.clock.Advance(5 * time.Minute)
	require.Equal(t, map[string]int{"trial_5m": 2}, iterate(t, in), "the last notice, counted under its own lead")
	e.clock.Advance(5 * time.Minute)
	require.Equal(t, map[string]int{"trial_ended": 2}, iterate(t, in))

	byID := map[string]*vpnbotv1.SendMessage{}
	for _, m := range e.messages(t) {
		byID[m.GetDedupId()] = m
	}
	require.Len(t, byID, 6)
	for _, want := range []struct {
		kind string
		sub  shop.Subscription
		text string
	}{
		{"trial_10m", ru, "Пробный период закончится через 10 минут"},
		{"trial_10m", en, "Your free trial ends in 10 minutes"},
		{"trial_5m", ru, "Пробный период закончится через 5 минут"},
		{"trial_5m", en, "Your free trial ends in 5 minutes"},
	} {
		m := byID[periodDedupID(want.kind, want.sub.ID, want.sub.ExpiresAt)]
		require.NotNil(t, m, "no %s notice of subscription %d", want.kind, want.sub.ID)
		require.Contains(t, m.GetText(), want.text)
	}
}

func TestAMissedFirstNoticeIsNotSentBesideTheLastAtTheConfiguredLeads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{Leads: demoLeads})
	sub := e.trialOf(t, "en", demoTrial)

	// The worker was down from the start to within 5 minutes of the end.
	e.clock.Advance(demoTrial - 4*time.Minute)
	require.Equal(t, map[string]int{"trial_5m": 1}, iterate(t, in))
	msgs := e.messages(t)
	require.Equal(t, []string{periodDedupID("trial_5m", sub.ID, sub.ExpiresAt)}, dedupIDs(msgs))
	require.Contains(t, msgs[0].GetText(), "ends in 5 minutes")
}

func TestATrialNoLongerThanALeadGetsNoNoticeOfIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A 15-minute trial is no longer than the first lead, and longer than
	// the last: it is told 10 minutes before its end only.
	in := e.instance(t, notifier.Config{Leads: notifier.Leads{First: demoTrial, Last: 10 * time.Minute}})
	sub := e.trialOf(t, "en", demoTrial)

	require.Empty(t, iterate(t, in), "the first notice would come with the key")
	e.clock.Advance(5 * time.Minute)
	require.Equal(t, map[string]int{"trial_10m": 1}, iterate(t, in))
	require.Equal(t, []string{periodDedupID("trial_10m", sub.ID, sub.ExpiresAt)}, dedupIDs(e.messages(t)))
}

func TestNewRefusesLeadsThatCannotWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := notifier.New(notifier.Config{Leads: notifier.Leads{First: time.Hour, Last: 2 * time.Hour}},
		e.db.Pool, e.js, obstest.NewLogger(&obstest.LogBuffer{}))
	require.ErrorContains(t, err, "leads 1h,2h: first lead 1h: must be longer than the last, 2h")
}

func TestAUserWhoNeverTookTheTrialIsNudgedOnceADayAfterRegistering(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{})
	idle := e.user(t, "en")
	tookTrial := e.trial(t, "en")
	bought := e.user(t, "en")
	e.pay(t, bought)

	e.clock.Advance(23 * time.Hour)
	require.Empty(t, iterate(t, in), "a day has not passed yet")

	e.clock.Advance(time.Hour)
	require.Equal(t, map[string]int{"never_started": 1}, iterate(t, in))
	msgs := e.messages(t)
	require.Len(t, msgs, 1, "only the user with no trial and no subscription: %v", dedupIDs(msgs))
	m := msgs[0]
	require.Equal(t, idle, m.GetChatId())
	require.Equal(t, "never_started:"+strconv.FormatInt(idle, 10), m.GetDedupId())
	require.Contains(t, m.GetText(), "You have not tried")
	require.Equal(t, botui.NoticeCallback(botui.ActionTrial, ""), button(m), "the button starts the trial")
	require.Equal(t, "🎁 Start free trial", m.GetRows()[0].GetButtons()[0].GetText())

	e.clock.Advance(25 * time.Hour) // the trial taken ends within a day
	res := iterate(t, in)
	require.Zero(t, res["never_started"], "the nudge is sent once per user")
	require.Equal(t, 1, res["trial_24h"], "the trial user %d still gets their trial's notices", tookTrial.UserID)
	for _, m := range e.messages(t) {
		require.NotEqual(t, "never_started:"+strconv.FormatInt(tookTrial.UserID, 10), m.GetDedupId())
	}
}

func TestAPaidTrialGetsNoTrialNotices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{})
	// Paid for while it ran: the period becomes 'paid' and goes on.
	paidEarly := e.trial(t, "en")
	e.pay(t, paidEarly.UserID)
	// Ran out, was revoked, then paid for: a new, later period.
	paidLate := e.trial(t, "en")
	// The control: a trial nobody paid for.
	unpaid := e.trial(t, "en")

	e.clock.Advance(trialLength - 23*time.Hour)
	require.Equal(t, map[string]int{"trial_24h": 2}, iterate(t, in), "the unpaid trials get their day notice")

	e.clock.Advance(23*time.Hour + time.Minute)
	_, err := e.db.Pool.Exec(t.Context(), `UPDATE subscriptions SET status = 'revoked', revoked_at = $2 WHERE id = $1`,
		paidLate.ID, e.clock.Now())
	require.NoError(t, err)
	renewed := e.pay(t, paidLate.UserID)
	require.NotEqual(t, paidLate.ID, renewed.ID)

	require.Equal(t, map[string]int{"trial_ended": 1}, iterate(t, in))
	var ended []string
	for _, m := range e.messages(t) {
		ended = append(ended, m.GetDedupId())
	}
	require.Equal(t, []string{
		periodDedupID("trial_24h", paidLate.ID, paidLate.ExpiresAt),
		periodDedupID("trial_24h", unpaid.ID, unpaid.ExpiresAt),
		periodDedupID("trial_ended", unpaid.ID, unpaid.ExpiresAt),
	}, ended, "the trial paid early got nothing, the one paid late no ended notice")
}

// Users who blocked the bot, and banned users, get no notices.
func TestBlockedOrBannedUsersGetNoNotices(t *testing.T) {
	t.Parallel()
	for _, column := range []string{"blocked_at", "banned_at"} {
		t.Run(column, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			in := e.instance(t, notifier.Config{})
			ended := e.trial(t, "en")
			idle := e.user(t, "en")
			control := e.user(t, "en")
			e.clock.Advance(24 * time.Hour)
			ending := e.trial(t, "en")
			// Now ended's trial ran out half an hour ago, ending's ends within a day,
			// and both idle users registered three days ago.
			e.clock.Advance(trialLength - 23*time.Hour - 30*time.Minute)
			for _, u := range []int64{ending.UserID, ended.UserID, idle} {
				_, err := e.db.Pool.Exec(t.Context(), `UPDATE users SET `+column+` = $2 WHERE id = $1`, u, e.clock.Now())
				require.NoError(t, err)
			}

			require.Equal(t, map[string]int{"never_started": 1}, iterate(t, in))
			msgs := e.messages(t)
			require.Equal(t, []string{"never_started:" + strconv.FormatInt(control, 10)}, dedupIDs(msgs))
		})
	}
}

func TestOldNoticesAreNotSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{MaxAge: 24 * time.Hour})
	e.trial(t, "en")
	e.user(t, "en")

	// The service comes up long after: the trial ran out two days ago (its
	// key was revoked and the user told so long since), the user registered
	// three days ago.
	e.clock.Advance(trialLength + 48*time.Hour)
	require.Empty(t, iterate(t, in))
	require.Empty(t, e.messages(t))
}

func TestThreeInstancesIteratingAtOnceSendEachNoticeOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []string
	for i := range 5 {
		idle := e.user(t, "en")
		want = append(want, "never_started:"+strconv.FormatInt(idle, 10))
		sub := e.trial(t, []string{"en", "ru"}[i%2])
		want = append(want, periodDedupID("trial_24h", sub.ID, sub.ExpiresAt))
	}
	e.clock.Advance(trialLength - 23*time.Hour)
	// Small batches, so the instances interleave claims over several rounds.
	instances := []*instance{
		e.instance(t, notifier.Config{BatchSize: 2}),
		e.instance(t, notifier.Config{BatchSize: 2}),
		e.instance(t, notifier.Config{BatchSize: 2}),
	}
	var wg sync.WaitGroup
	for range 2 {
		for _, in := range instances {
			wg.Go(func() { iterate(t, in) })
		}
	}
	wg.Wait()

	require.ElementsMatch(t, want, dedupIDs(e.messages(t)), "each notice exactly once")
	sent := 0
	for _, in := range instances {
		sent += len(in.logs.Events(t, notifier.EventNoticeSent))
	}
	require.Equal(t, len(want), sent, "each notice handed to the sender by one instance only")
}

func TestARestartedWorkerDoesNotRepeatNotices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.trial(t, "en")
	e.user(t, "en")
	e.clock.Advance(trialLength - 23*time.Hour)

	runWorker := func(in *instance) (stop func()) {
		w, err := worker.New(worker.Config{Name: "trial-notifier", Interval: 20 * time.Millisecond, IterationTimeout: 5 * time.Second},
			in.n.Iterate, obstest.NewLogger(in.logs), nil)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		return func() {
			cancel()
			require.NoError(t, <-done)
		}
	}
	first := e.instance(t, notifier.Config{})
	stop := runWorker(first)
	require.Eventually(t, func() bool { return len(e.messages(t)) == 2 }, waitFor, poll)
	stop()

	second := e.instance(t, notifier.Config{})
	stop = runWorker(second)
	require.Eventually(t, func() bool { return len(second.logs.Events(t, worker.EventIterationEnd)) >= 3 }, waitFor, poll)
	stop()
	require.Empty(t, second.logs.Events(t, notifier.EventNoticeSent), "the new instance sent again")
	msgs := e.messages(t)
	require.Len(t, msgs, 2)
	require.Contains(t, dedupIDs(msgs), periodDedupID("trial_24h", sub.ID, sub.ExpiresAt))
}

func TestANoticeThatCouldNotBePublishedIsSentByTheNextIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{})
	sub := e.trial(t, "en")
	e.clock.Advance(trialLength - 23*time.Hour)

	e.nats.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	res, err := in.n.Iterate(ctx)
	cancel()
	require.Error(t, err)
	require.Equal(t, 1, res["failed"])
	var claims int
	require.NoError(t, e.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM notifications_sent`).Scan(&claims))
	require.Zero(t, claims, "the claim of the unpublished notice was released")

	e.nats.Restart()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		res, err := in.n.Iterate(ctx)
		return err == nil && res["trial_24h"] == 1
	}, waitFor, poll)
	require.Equal(t, []string{periodDedupID("trial_24h", sub.ID, sub.ExpiresAt)}, dedupIDs(e.messages(t)))
	require.Empty(t, iterate(t, in))
}

// claimedKinds lists the notifications_sent kinds recorded for a period's
// expiry, sorted.
func (e *env) claimedKinds(t *testing.T, subscriptionID int64, expires time.Time) []string {
	t.Helper()
	rows, err := e.db.Pool.Query(t.Context(),
		`SELECT kind FROM notifications_sent WHERE subscription_id = $1 AND expires_at = $2 ORDER BY kind`, subscriptionID, expires)
	require.NoError(t, err)
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return kinds
}

func TestTheTrialEndedNoticeSaysWhenTheKeyStops(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{Grace: 90 * time.Minute})
	sub := e.trial(t, "en")
	e.clock.Advance(trialLength + time.Minute)

	require.Equal(t, map[string]int{"trial_ended": 1}, iterate(t, in))
	msgs := e.messages(t)
	require.Len(t, msgs, 1)
	stops := sub.ExpiresAt.Add(90 * time.Minute).UTC().Format("15:04")
	require.Contains(t, msgs[0].GetText(), "Your VPN key keeps working until")
	require.Contains(t, msgs[0].GetText(), stops+" UTC, then stops", "the end of the grace")
	require.Equal(t, []string{notify.KindTrialEnded}, e.claimedKinds(t, sub.ID, sub.ExpiresAt),
		"expiry-cleanup's notice of the revocation stays its own to send")
}

// TestATrialEndedNoticeIsDueWhileTheKeyWorks: from the expiry to the end of
// the grace. A worker that comes back later leaves the end to
// expiry-cleanup's notice of the revocation, rather than say it twice.
func TestATrialEndedNoticeIsDueWhileTheKeyWorks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{Grace: time.Hour})
	late := e.trial(t, "ru")
	e.clock.Advance(time.Second)
	lastMoment := e.trial(t, "ru")
	e.clock.Advance(trialLength - time.Second - time.Second)
	require.Zero(t, iterate(t, in)["trial_ended"], "a second before the end: not yet")

	e.clock.Advance(time.Hour + time.Second)
	require.Equal(t, map[string]int{"trial_ended": 1}, iterate(t, in), "the last second of the grace of one, past the other's")
	var ended []*vpnbotv1.SendMessage
	for _, m := range e.messages(t) {
		if strings.HasPrefix(m.GetDedupId(), "trial_ended:") {
			ended = append(ended, m)
		}
	}
	require.Equal(t, []string{periodDedupID("trial_ended", lastMoment.ID, lastMoment.ExpiresAt)}, dedupIDs(ended))
	require.Contains(t, ended[0].GetText(), "Ключ VPN будет работать до")
	require.Equal(t, []string{notify.TrialEndsSoonKind(notifier.DefaultLeads.Last)}, e.claimedKinds(t, late.ID, late.ExpiresAt),
		"no trial_ended claimed for the trial whose grace is over")
}

// TestTwoWorkersAtOnceSendEachTrialEndedNoticeOnceInItsLanguage runs two
// replicas' iterations side by side over trials that ended
// in English and in Russian: each user is told once, in their language, by
// one of the two.
func TestTwoWorkersAtOnceSendEachTrialEndedNoticeOnceInItsLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	langs := map[int64]string{}
	var want []string
	for i := range 20 {
		lang := []string{"en", "ru"}[i%2]
		sub := e.trial(t, lang)
		langs[sub.UserID] = lang
		want = append(want, periodDedupID("trial_ended", sub.ID, sub.ExpiresAt))
	}
	e.clock.Advance(trialLength + time.Minute)
	// Batches of one, so that the two interleave their claims.
	a := e.instance(t, notifier.Config{BatchSize: 1})
	b := e.instance(t, notifier.Config{BatchSize: 1})
	workertest.AtOnce(t, func() { iterate(t, a) }, func() { iterate(t, b) })

	msgs := e.messages(t)
	require.ElementsMatch(t, want, dedupIDs(msgs), "each trial's end told once")
	for _, m := range msgs {
		text := map[string]string{"en": "Your free trial ended on", "ru": "Пробный период закончился"}[langs[m.GetChatId()]]
		require.Contains(t, m.GetText(), text, "user %d's language", m.GetChatId())
	}
	sent := len(a.logs.Events(t, notifier.EventNoticeSent)) + len(b.logs.Events(t, notifier.EventNoticeSent))
	require.Equal(t, len(want), sent, "each notice handed to the sender by one worker only")
	require.Zero(t, e.pending(t))
	require.Empty(t, iterate(t, a), "nothing is told twice")
}

// TestATrialEndedNoticeRepublishedAfterItsReplicaDiedIsOneMessage: a replica
// claims the notice, publishes it and dies before recording it published.
// The next iteration takes the claim over and publishes the notice again,
// under the same dedup id, which the OUTBOX drops: the user gets it once.
func TestATrialEndedNoticeRepublishedAfterItsReplicaDiedIsOneMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{})
	sub := e.trial(t, "ru")
	e.clock.Advance(trialLength + time.Minute)

	dying, claimed := e.claimWithoutPublishing(t)
	require.Equal(t, 1, claimed)
	msg := notify.TrialEnded("ru", sub.UserID, sub.ID, sub.ExpiresAt, sub.ExpiresAt.Add(notifier.DefaultGrace))
	duplicate, err := outbox.Publish(t.Context(), e.js, msg)
	require.NoError(t, err)
	require.False(t, duplicate)
	dying.Close()

	got := map[string]int{}
	require.Eventually(t, func() bool {
		for kind, n := range iterate(t, in) {
			got[kind] += n
		}
		return got["trial_ended"] == 1
	}, waitFor, poll, "the dead replica's claim was not taken over: %v", got)
	require.Equal(t, map[string]int{"trial_ended": 1, "duplicates": 1}, got, "published again, and dropped as a duplicate")
	require.Equal(t, []string{periodDedupID("trial_ended", sub.ID, sub.ExpiresAt)}, dedupIDs(e.messages(t)))
	require.Zero(t, e.pending(t))
	require.Empty(t, iterate(t, in))
}

// Under the trial-notifier's own role, as in production: the nudge and a
// trial's notices are claimed, sent and recorded with its grants alone.
func TestNoticesAreSentUnderTheServicesRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := &instance{logs: &obstest.LogBuffer{}}
	n, err := notifier.New(notifier.Config{NowFunc: e.clock.Now}, e.db.As(t, "trial-notifier"), e.js, obstest.NewLogger(in.logs))
	require.NoError(t, err)
	in.n = n
	e.user(t, "en")
	e.trial(t, "en")

	e.clock.Advance(trialLength - 23*time.Hour)
	require.Equal(t, map[string]int{"never_started": 1, "trial_24h": 1}, iterate(t, in))
	require.Len(t, e.messages(t), 2)
	require.Empty(t, iterate(t, in), "recorded as sent")
}
