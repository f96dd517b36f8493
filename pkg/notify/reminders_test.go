package notify_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

func TestRemindersMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.FixedZone("MSK", 3*3600))
	// Each stage as the worker sends it: shortly after its window opens.
	cases := map[string]struct {
		stage, left time.Duration
	}{
		"reminders_72h": {72 * time.Hour, 71*time.Hour + 59*time.Minute},
		"reminders_24h": {24 * time.Hour, 23 * time.Hour},
		"reminders_1h":  {time.Hour, 59 * time.Minute},
	}
	for name, c := range cases {
		for _, lang := range []string{botui.English, botui.Russian} {
			requireGolden(t, name+"."+lang, notify.Reminder(lang, 1004, 42, c.stage, expires, expires.Add(-c.left)))
		}
	}
}

func TestPaidEndedMatchesGoldenFiles(t *testing.T) {
	t.Parallel()
	expired := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.FixedZone("MSK", 3*3600))
	for _, lang := range []string{botui.English, botui.Russian} {
		requireGolden(t, "paid_ended."+lang, notify.PaidEnded(lang, 1004, 42, expired, expired.Add(time.Hour)))
	}
}

func TestPaidEndedIsOneMessagePerPeriodAndExpiry(t *testing.T) {
	t.Parallel()
	expired := time.Date(2027, time.March, 10, 12, 0, 0, 0, time.UTC)
	m := notify.PaidEnded(botui.English, 1001, 7, expired, expired.Add(time.Hour))
	require.Equal(t, "paid_ended:7:1804680000", m.GetDedupId())
	require.Equal(t, vpnbotv1.Priority_PRIORITY_REMINDER, m.GetPriority(), "it must not overtake keys and receipts")
	requireOpens(t, m, botui.ActionPlans)
	require.Equal(t, m.GetDedupId(), notify.PaidEnded(botui.Russian, 1001, 7, expired, expired.Add(time.Minute)).GetDedupId(),
		"in another language, telling another grace: still one message")
	require.NotEqual(t, m.GetDedupId(), notify.PaidEnded(botui.English, 1001, 7, expired.AddDate(0, 0, 30), expired.AddDate(0, 0, 31)).GetDedupId(),
		"a renewed period that ends again is told again")
}

func TestReminderSaysHowLongIsLeftInTheUsersWords(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.March, 10, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		left   time.Duration
		en, ru string
	}{
		{30 * time.Second, "(in 1 minute)", "(через 1 минуту)"},
		{2 * time.Minute, "(in 2 minutes)", "(через 2 минуты)"},
		{59 * time.Minute, "(in 59 minutes)", "(через 59 минут)"},
		{59*time.Minute + 40*time.Second, "(in 1 hour)", "(через 1 час)"},
		{21 * time.Hour, "(in 21 hours)", "(через 21 час)"},
		{23 * time.Hour, "(in 23 hours)", "(через 23 часа)"},
		{47 * time.Hour, "(in 47 hours)", "(через 47 часов)"},
		{48 * time.Hour, "(in 2 days)", "(через 2 дня)"},
		{71*time.Hour + 50*time.Minute, "(in 3 days)", "(через 3 дня)"},
		{11 * 24 * time.Hour, "(in 11 days)", "(через 11 дней)"},
		{21 * 24 * time.Hour, "(in 21 days)", "(через 21 день)"},
	} {
		en := notify.Reminder(botui.English, 1, 2, 72*time.Hour, expires, expires.Add(-c.left))
		require.Contains(t, en.GetText(), c.en, "left %s", c.left)
		ru := notify.Reminder("ru-RU", 1, 2, 72*time.Hour, expires, expires.Add(-c.left))
		require.Contains(t, ru.GetText(), c.ru, "left %s", c.left)
	}
}

func TestReminderIsOneMessagePerStageAndExpiry(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.March, 10, 12, 0, 0, 0, time.UTC)
	m := notify.Reminder(botui.English, 1001, 7, 24*time.Hour, expires, expires.Add(-23*time.Hour))
	require.Equal(t, "reminder_24h:7:1804680000", m.GetDedupId())
	require.Equal(t, vpnbotv1.Priority_PRIORITY_REMINDER, m.GetPriority())
	requireOpens(t, m, botui.ActionPlans)

	again := notify.Reminder(botui.Russian, 1001, 7, 24*time.Hour, expires, expires.Add(-22*time.Hour))
	require.Equal(t, m.GetDedupId(), again.GetDedupId(), "published again later, in another language: still one message")
	renewed := notify.Reminder(botui.English, 1001, 7, 24*time.Hour, expires.AddDate(0, 0, 30), expires.AddDate(0, 0, 29))
	require.NotEqual(t, m.GetDedupId(), renewed.GetDedupId(), "a renewed subscription is reminded again")
	other := notify.Reminder(botui.English, 1001, 7, time.Hour, expires, expires.Add(-time.Hour))
	require.NotEqual(t, m.GetDedupId(), other.GetDedupId(), "each stage is its own message")
}

func TestReminderKindNamesAStageTheSameHoweverItWasWritten(t *testing.T) {
	t.Parallel()
	for stage, want := range map[time.Duration]string{
		72 * time.Hour:     "reminder_72h",
		1440 * time.Minute: "reminder_24h",
		90 * time.Minute:   "reminder_90m",
		45 * time.Second:   "reminder_45s",
	} {
		require.Equal(t, want, notify.ReminderKind(stage))
	}
}
