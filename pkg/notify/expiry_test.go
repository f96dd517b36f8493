package notify_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

func TestKeyRevokedMatchesGoldenFiles(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.FixedZone("MSK", 3*3600))
	for name, trial := range map[string]bool{"key_revoked_trial": true, "key_revoked_paid": false} {
		for _, lang := range []string{botui.English, botui.Russian} {
			m := notify.KeyRevoked(lang, 1004, 42, trial, expires)
			require.Equal(t, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, m.GetPriority())
			requireGolden(t, name+"."+lang, m)
		}
	}
}

func TestKeyRevokedIsOneNoticePerPeriodAndExpiry(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, time.January, 2, 15, 4, 0, 0, time.UTC)
	m := notify.KeyRevoked("en", 1004, 42, false, expires)
	require.Equal(t, "expired:42:1798902240", m.GetDedupId())
	require.Equal(t, m.GetDedupId(), notify.KeyRevoked("ru-RU", 1004, 42, true, expires.In(time.FixedZone("MSK", 3*3600))).GetDedupId(),
		"the same period's notice, whatever the language, zone or wording")
	require.NotEqual(t, m.GetDedupId(), notify.KeyRevoked("en", 1004, 42, false, expires.Add(30*24*time.Hour)).GetDedupId(),
		"a renewed period that ends again is a new notice")
	requireOpens(t, m, botui.ActionPlans)
}
