package notify_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

func TestSubscriptionEndedMatchesGoldenFiles(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.FixedZone("MSK", 3*3600))
	for _, lang := range []string{botui.English, botui.Russian} {
		m := notify.SubscriptionEnded(lang, 1004, 42, expires)
		require.Equal(t, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, m.GetPriority())
		path := filepath.Join("testdata", "golden", "expiry_subscription_ended."+lang+".txt")
		got := render(m)
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "no golden file: run go test ./notify -run SubscriptionEnded -update")
		require.Equal(t, string(want), got, "%s differs (go test ./notify -run SubscriptionEnded -update rewrites it)", path)
	}
}

func TestSubscriptionEndedIsOneNoticePerPeriodAndExpiry(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.UTC)
	m := notify.SubscriptionEnded("en", 1004, 42, expires)
	require.Equal(t, "expired:42:1798902240", m.GetDedupId())
	require.Equal(t, m.GetDedupId(), notify.SubscriptionEnded("ru-RU", 1004, 42, expires.In(time.FixedZone("MSK", 3*3600))).GetDedupId(),
		"the same period's notice, whatever the language or zone")
	require.NotEqual(t, m.GetDedupId(), notify.SubscriptionEnded("en", 1004, 42, expires.Add(30*24*time.Hour)).GetDedupId(),
		"a renewed period that ends again is a new notice")
	require.Equal(t, "plans", m.GetRows()[0].GetButtons()[0].GetCallbackData(), "the first button offers the plans")
}
