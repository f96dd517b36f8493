package reminders_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker/workertest"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
	"github.com/vpnbot/vpnbot/services/reminders/internal/reminders"
)

// endedText is how a paid period's end starts, by language.
var endedText = map[string]string{
	"en": "⌛ Your subscription ended on ",
	"ru": "⌛ Ваша подписка закончилась ",
}

func TestAPaidPeriodsEndIsToldOnceInItsUsersLanguageWithWhenTheKeyStops(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{Grace: 90 * time.Minute})
	en := e.paid(t, "en")
	ru := e.paid(t, "ru")
	e.setExpiry(t, ru.ID, en.ExpiresAt)
	ru.ExpiresAt = en.ExpiresAt

	e.clock.Set(en.ExpiresAt.Add(-time.Second))
	require.Zero(t, iterate(t, in)["ended"], "a second before the end: not yet")
	e.clock.Set(en.ExpiresAt)
	require.Equal(t, 2, iterate(t, in)["ended"], "at the end")
	e.clock.Set(en.ExpiresAt.Add(89 * time.Minute))
	require.Empty(t, iterate(t, in), "told once")

	byChat := map[int64]*vpnbotv1.SendMessage{}
	for _, m := range e.messages(t) {
		if m.GetDedupId() == dedupID("paid_ended", en) || m.GetDedupId() == dedupID("paid_ended", ru) {
			byChat[m.GetChatId()] = m
		}
	}
	require.Len(t, byChat, 2)
	for lang, sub := range map[string]shop.Subscription{"en": en, "ru": ru} {
		m := byChat[sub.UserID]
		require.NotNil(t, m, "no end for the %s user", lang)
		require.Contains(t, m.GetText(), endedText[lang], "the user's language")
		require.Equal(t, vpnbotv1.Priority_PRIORITY_REMINDER, m.GetPriority())
		require.Equal(t, botui.NoticeCallback(botui.ActionPlans, ""), m.GetRows()[0].GetButtons()[0].GetCallbackData(), "renew")
	}
	require.Contains(t, byChat[en.UserID].GetText(),
		"Your VPN key keeps working until "+dateOf(en.ExpiresAt.Add(90*time.Minute))+", then stops", "the end of the grace")
	require.EqualValues(t, 2, metric(t, in, notify.KindPaidEnded))
	ended := 0
	for _, ev := range in.logs.Events(t, reminders.EventReminderSent) {
		if ev["stage"] == notify.KindPaidEnded {
			ended++
		}
	}
	require.Equal(t, 2, ended, "REMINDER_SENT names the end by its stage")
}

// TestTheEndIsDueWhileTheKeyWorks: from the expiry to the end of the grace.
// Found first after the expiry, a period gets the end alone (its reminders
// never come late); found after the grace, nothing: expiry-cleanup's notice
// of the revocation tells the end then.
func TestTheEndIsDueWhileTheKeyWorks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{Grace: time.Hour})
	late := e.paid(t, "en")
	lastMoment := e.paid(t, "en")
	e.setExpiry(t, lastMoment.ID, late.ExpiresAt.Add(time.Second))
	lastMoment.ExpiresAt = late.ExpiresAt.Add(time.Second)

	e.clock.Set(late.ExpiresAt.Add(time.Hour))
	res := iterate(t, in)
	require.Equal(t, 1, res["ended"], "the last second of the grace of one, past the other's")
	require.Equal(t, 3, res["skipped"], "its three reminders, claimed with the end so that none comes late")
	require.Equal(t, []string{dedupID("paid_ended", lastMoment)}, dedupIDs(e.messages(t)))
	require.Empty(t, iterate(t, in))
}

// TestTwoWorkersAtOnceTellEachPaidEndOnce runs two replicas' iterations side
// by side over periods that ended, in English and Russian: each user is told
// once, in their language, by one of the two.
func TestTwoWorkersAtOnceTellEachPaidEndOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A month on, when the periods bought now end.
	now := time.Now().UTC().Truncate(time.Second).AddDate(0, 0, 30)
	e.clock.Set(now)
	langs := map[int64]string{}
	var want []string
	for i := range 20 {
		lang := []string{"en", "ru"}[i%2]
		sub := e.paid(t, lang)
		sub.ExpiresAt = now.Add(-time.Duration(i+1) * time.Minute)
		e.setExpiry(t, sub.ID, sub.ExpiresAt)
		langs[sub.UserID] = lang
		want = append(want, dedupID("paid_ended", sub))
	}
	// Batches of one, so that the two interleave their claims.
	a := e.instance(t, reminders.Config{BatchSize: 1})
	b := e.instance(t, reminders.Config{BatchSize: 1})
	workertest.AtOnce(t, func() { iterate(t, a) }, func() { iterate(t, b) })
	// A worker whose claim lost every race ends its iteration early; one
	// more pass sends what is left.
	iterate(t, a)

	msgs := e.messages(t)
	require.ElementsMatch(t, want, dedupIDs(msgs), "each end told once")
	for _, m := range msgs {
		require.Contains(t, m.GetText(), endedText[langs[m.GetChatId()]], "user %d's language", m.GetChatId())
	}
	require.Equal(t, len(want), int(metric(t, a, notify.KindPaidEnded)+metric(t, b, notify.KindPaidEnded)),
		"each end handed to the sender by one worker only")
	require.Zero(t, e.pending(t))
	require.Empty(t, iterate(t, b), "nothing is told twice")
}

// TestAPaidEndRepublishedAfterItsReplicaDiedIsOneMessage: a replica claims
// the end, publishes it and dies before recording it published. The next
// iteration takes the claim over and publishes it again under the same
// dedup id, which the OUTBOX drops: the user gets it once.
func TestAPaidEndRepublishedAfterItsReplicaDiedIsOneMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.paid(t, "ru")
	e.clock.Set(sub.ExpiresAt.Add(time.Minute))
	dying, claims := e.claimWithoutPublishing(t)
	require.Len(t, claims, 4, "the end, and the three reminders passed over")
	_, err := outbox.Publish(t.Context(), e.js,
		notify.PaidEnded("ru", sub.UserID, sub.ID, sub.ExpiresAt, sub.ExpiresAt.Add(reminders.DefaultGrace)))
	require.NoError(t, err)
	dying.Close()

	got := map[string]int{}
	require.Eventually(t, func() bool {
		for k, n := range iterate(t, in) {
			got[k] += n
		}
		return got["duplicate"] > 0
	}, waitFor, poll, "the dead replica's claim was never taken over: %v", got)
	require.Equal(t, map[string]int{"duplicate": 1}, got, "published again, and dropped by the OUTBOX")
	msgs := e.messages(t)
	require.Equal(t, []string{dedupID("paid_ended", sub)}, dedupIDs(msgs))
	require.Contains(t, msgs[0].GetText(), endedText["ru"])
	require.Zero(t, e.pending(t))
	require.Empty(t, iterate(t, in))
}
