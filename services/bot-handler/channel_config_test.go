package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/config"
)

// The bot reads the required channel's settings and refuses to start with
// ones that cannot work (channelgate's tests hold every case).
func TestTheBotReadsTheRequiredChannel(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", "123:secret")
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, channelgate.DefaultSettings(), cfg.Channel, "off by default")

	t.Setenv("REQUIRED_CHANNEL", "@vpn_news")
	t.Setenv("REQUIRED_CHANNEL_SCOPE", "all")
	cfg, err = config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, channelgate.Settings{Chat: "@vpn_news", Scope: "all", Cache: 30 * time.Second}, cfg.Channel)

	t.Setenv("REQUIRED_CHANNEL_SCOPE", "payments")
	_, err = config.Load(defaultConfig())
	require.ErrorContains(t, err, "REQUIRED_CHANNEL_SCOPE=")
}
