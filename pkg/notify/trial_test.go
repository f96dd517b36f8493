package notify_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/notify"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// trialGoldenPrefix starts the names of the trial notices' golden files.
const trialGoldenPrefix = "trial_"

func TestTrialNoticesMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.FixedZone("MSK", 3*3600))
	messages := map[string]func(lang string) *vpnbotv1.SendMessage{
		"trial_ends_24h": func(l string) *vpnbotv1.SendMessage { return notify.TrialEndsIn24h(l, 2001, 21, expires) },
		"trial_ends_1h":  func(l string) *vpnbotv1.SendMessage { return notify.TrialEndsIn1h(l, 2002, 22, expires) },
		"trial_ended": func(l string) *vpnbotv1.SendMessage {
			return notify.TrialEnded(l, 2003, 23, expires, expires.Add(time.Hour))
		},
		"trial_ended_key_gone": func(l string) *vpnbotv1.SendMessage { return notify.TrialEnded(l, 2005, 25, expires, time.Time{}) },
		"trial_never_started": func(l string) *vpnbotv1.SendMessage {
			return notify.TrialNeverStarted(l, 2004, 2004)
		},
	}

	dir := filepath.Join("testdata", "golden")
	if *update {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	for name, message := range messages {
		for _, lang := range []string{notify.English, notify.Russian} {
			m := message(lang)
			require.Equal(t, vpnbotv1.Priority_PRIORITY_REMINDER, m.GetPriority(), "a notice must not overtake keys and receipts")
			path := filepath.Join(dir, name+"."+lang+".txt")
			got := render(m)
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
				continue
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "no golden file for %s: run go test ./notify -update", name)
			require.Equal(t, string(want), got, "message %s differs from %s (go test ./notify -update rewrites it)", name, path)
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
	require.Equal(t, "trial_24h:21:1798902240", notify.TrialEndsIn24h("en", 2001, 21, expires).GetDedupId())
	require.Equal(t, "trial_1h:21:1798902240", notify.TrialEndsIn1h("ru", 2001, 21, expires).GetDedupId())
	require.Equal(t, "trial_ended:21:1798902240", notify.TrialEnded("en", 2001, 21, expires, expires.Add(time.Hour)).GetDedupId())
	require.Equal(t, "trial_ended:21:1798902240", notify.TrialEnded("ru", 2001, 21, expires, time.Time{}).GetDedupId(),
		"one notice whether or not the key still works when it is written")
	require.NotEqual(t, notify.TrialEnded("en", 2001, 21, expires, time.Time{}).GetDedupId(),
		notify.TrialEnded("en", 2001, 21, expires.Add(time.Hour), time.Time{}).GetDedupId(), "a period extended to a new expiry is a new notice")
	require.Equal(t, "never_started:2004", notify.TrialNeverStarted("ru", 2004, 2004).GetDedupId(), "once per user, in any language")
}
