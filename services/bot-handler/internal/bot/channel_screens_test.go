package bot

import (
	"path/filepath"
	"testing"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/channelgate"
)

func TestChannelScreensMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	const url = "https://t.me/vpn_news"
	screens := map[string]func(lang string) Screen{
		"channel_trial": func(l string) Screen { return ChannelGateScreen(l, url, channelgate.ScopeTrial, botui.ActionTrial) },
		"channel_all_trial": func(l string) Screen {
			return ChannelGateScreen(l, url, channelgate.ScopeAll, botui.ActionTrial)
		},
		"channel_all": func(l string) Screen { return ChannelGateScreen(l, url, channelgate.ScopeAll, "") },
	}
	requireGolden(t, filepath.Join("testdata", "channel"), screens)
}
