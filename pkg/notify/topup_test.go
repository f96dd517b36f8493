package notify_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

func TestTopUpReceivedMatchesGoldenFiles(t *testing.T) {
	t.Parallel()
	messages := map[string]func(lang string) *vpnbotv1.SendMessage{
		"topup_received_usd": func(l string) *vpnbotv1.SendMessage { return notify.TopUpReceived(l, 1003, 21, "USD", 1250, 1749) },
		"topup_received_xtr": func(l string) *vpnbotv1.SendMessage { return notify.TopUpReceived(l, 1003, 22, "XTR", 300, 300) },
	}
	for name, message := range messages {
		for _, lang := range []string{botui.English, botui.Russian} {
			m := message(lang)
			require.Equal(t, vpnbotv1.Priority_PRIORITY_TRANSACTIONAL, m.GetPriority())
			requireGolden(t, name+"."+lang, m)
		}
	}
	if !*update {
		files, err := filepath.Glob(filepath.Join("testdata", "golden", "topup_received_*"))
		require.NoError(t, err)
		require.Len(t, files, len(messages)*2, "golden files of messages that no longer exist: %v", files)
	}
}
