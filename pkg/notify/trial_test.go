package notify_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// trialGoldenPrefix starts the names of the trial notices' golden files.
const trialGoldenPrefix = "trial_"

func TestTrialNoticesMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.FixedZone("MSK", 3*3600))
	messages := map[string]func(lang string) *vpnbotv1.SendMessage{
		// The default leads, then make run's demo ones.
		"trial_ends_24h": func(l string) *vpnbotv1.SendMessage {
			return notify.TrialEndsSoonFirst(l, 2001, 21, expires, 24*time.Hour)
		},
		"trial_ends_1h": func(l string) *vpnbotv1.SendMessage { return notify.TrialEndsSoonLast(l, 2002, 22, expires, time.Hour) },
		"trial_ends_10m": func(l string) *vpnbotv1.SendMessage {
			return notify.TrialEndsSoonFirst(l, 2006, 26, expires, 10*time.Minute)
		},
		"trial_ends_5m": func(l string) *vpnbotv1.SendMessage {
			return notify.TrialEndsSoonLast(l, 2007, 27, expires, 5*time.Minute)
		},
		"trial_ended": func(l string) *vpnbotv1.SendMessage {
			return notify.TrialEnded(l, 2003, 23, expires, expires.Add(time.Hour))
		},
		"trial_never_started": func(l string) *vpnbotv1.SendMessage {
			return notify.TrialNeverStarted(l, 2004, 2004)
		},
	}

	dir := filepath.Join("testdata", "golden")
	for name, message := range messages {
		for _, lang := range []string{botui.English, botui.Russian} {
			m := message(lang)
			require.Equal(t, vpnbotv1.Priority_PRIORITY_REMINDER, m.GetPriority(), "a notice must not overtake keys and receipts")
			requireGolden(t, name+"."+lang, m)
		}
	}
	if !*update {
		files, err := os.ReadDir(dir)
		require.NoError(t, err)
		var trial []string
		for _, f := range files {
			if strings.HasPrefix(f.Name(), trialGoldenPrefix) {
				trial = append(trial, f.Name())
			}
		}
		require.Len(t, trial, len(messages)*2, "golden files of trial notices that no longer exist: %v", trial)
	}
}

func TestTrialNoticeDedupIDsNameThePeriodAndItsExpiry(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.UTC)
	require.Equal(t, "trial_24h:21:1798902240", notify.TrialEndsSoonFirst("en", 2001, 21, expires, 24*time.Hour).GetDedupId())
	require.Equal(t, "trial_1h:21:1798902240", notify.TrialEndsSoonLast("ru", 2001, 21, expires, time.Hour).GetDedupId())
	require.Equal(t, "trial_10m:21:1798902240", notify.TrialEndsSoonFirst("ru", 2001, 21, expires, 10*time.Minute).GetDedupId(),
		"a notice at another lead is of its own kind")
	require.Equal(t, "trial_5m:21:1798902240", notify.TrialEndsSoonLast("en", 2001, 21, expires, 5*time.Minute).GetDedupId())
	require.Equal(t, "trial_90m:21:1798902240", notify.TrialEndsSoonLast("en", 2001, 21, expires, 90*time.Minute).GetDedupId())
	require.Equal(t, "trial_ended:21:1798902240", notify.TrialEnded("en", 2001, 21, expires, expires.Add(time.Hour)).GetDedupId())
	require.Equal(t, "trial_ended:21:1798902240", notify.TrialEnded("ru", 2001, 21, expires, expires.Add(time.Minute)).GetDedupId(),
		"one notice whatever the grace it tells")
	require.NotEqual(t, notify.TrialEnded("en", 2001, 21, expires, expires.Add(time.Hour)).GetDedupId(),
		notify.TrialEnded("en", 2001, 21, expires.Add(time.Hour), expires.Add(2*time.Hour)).GetDedupId(),
		"a period extended to a new expiry is a new notice")
	require.Equal(t, "never_started:2004", notify.TrialNeverStarted("ru", 2004, 2004).GetDedupId(), "once per user, in any language")
}

// TestTrialEndsSoonTellsTheLeadInTheLanguagesForm is the lead of an "ends
// soon" notice as a reader expects it: one unit as a word, the Russian
// plural each count takes (one, few, many, and 11–14 as many), whole hours
// in hours up to two days, days beyond, anything else in minutes.
func TestTrialEndsSoonTellsTheLeadInTheLanguagesForm(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.UTC)
	for _, tc := range []struct {
		lead   time.Duration
		en, ru string
	}{
		{time.Minute, "ends in a minute,", "через минуту —"},
		{2 * time.Minute, "ends in 2 minutes,", "через 2 минуты —"},
		{5 * time.Minute, "ends in 5 minutes,", "через 5 минут —"},
		{11 * time.Minute, "ends in 11 minutes,", "через 11 минут —"},
		{12 * time.Minute, "ends in 12 minutes,", "через 12 минут —"},
		{21 * time.Minute, "ends in 21 minutes,", "через 21 минуту —"},
		{22 * time.Minute, "ends in 22 minutes,", "через 22 минуты —"},
		{90 * time.Minute, "ends in 90 minutes,", "через 90 минут —"},
		{time.Hour, "ends in an hour,", "через час —"},
		{2 * time.Hour, "ends in 2 hours,", "через 2 часа —"},
		{5 * time.Hour, "ends in 5 hours,", "через 5 часов —"},
		{21 * time.Hour, "ends in 21 hours,", "через 21 час —"},
		{24 * time.Hour, "ends in 24 hours,", "через 24 часа —"},
		{36 * time.Hour, "ends in 36 hours,", "через 36 часов —"},
		{48 * time.Hour, "ends in 2 days,", "через 2 дня —"},
		{120 * time.Hour, "ends in 5 days,", "через 5 дней —"},
	} {
		for lang, want := range map[string]string{botui.English: tc.en, botui.Russian: tc.ru} {
			first := notify.TrialEndsSoonFirst(lang, 1, 1, expires, tc.lead).GetText()
			last := notify.TrialEndsSoonLast(lang, 1, 1, expires, tc.lead).GetText()
			require.Contains(t, first, want, "lead %s in %s", tc.lead, lang)
			require.Contains(t, last, want, "lead %s in %s", tc.lead, lang)
		}
	}
}
