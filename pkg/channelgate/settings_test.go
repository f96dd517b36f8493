package channelgate_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/config"
)

func TestSettingsFromTheEnvironment(t *testing.T) {
	s, err := config.Load(channelgate.DefaultSettings())
	require.NoError(t, err)
	require.Equal(t, channelgate.Settings{Scope: "trial", Cache: 30 * time.Second}, s, "off by default")
	c, err := channelgate.New(nil, s, nil)
	require.NoError(t, err)
	require.Nil(t, c, "no channel, no checker")

	t.Setenv("REQUIRED_CHANNEL", "@vpn_news")
	s, err = config.Load(channelgate.DefaultSettings())
	require.NoError(t, err)
	require.Equal(t, "https://t.me/vpn_news", s.JoinURL(), "an @name links to itself")
	reg := prometheus.NewRegistry()
	c, err = channelgate.New(nil, s, reg)
	require.NoError(t, err)
	require.Equal(t, channelgate.ScopeTrial, c.Scope())
	families, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, families, 1)
	require.Equal(t, "vpnbot_bot_channel_checks_total", families[0].GetName())

	t.Setenv("REQUIRED_CHANNEL", "-1001234567890")
	t.Setenv("REQUIRED_CHANNEL_SCOPE", "all")
	t.Setenv("REQUIRED_CHANNEL_CACHE", "1m")
	_, err = config.Load(channelgate.DefaultSettings())
	require.ErrorContains(t, err, "REQUIRED_CHANNEL_URL is required with a numeric REQUIRED_CHANNEL")
	t.Setenv("REQUIRED_CHANNEL_URL", "https://t.me/+AbCdEf")
	s, err = config.Load(channelgate.DefaultSettings())
	require.NoError(t, err)
	require.Equal(t, channelgate.Settings{Chat: "-1001234567890", URL: "https://t.me/+AbCdEf", Scope: "all", Cache: time.Minute}, s)
	require.Equal(t, "https://t.me/+AbCdEf", s.JoinURL())

	for env, bad := range map[string]string{
		"REQUIRED_CHANNEL":       "vpn_news",
		"REQUIRED_CHANNEL_URL":   "t.me/vpn_news",
		"REQUIRED_CHANNEL_SCOPE": "payments",
		"REQUIRED_CHANNEL_CACHE": "-1s",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, bad)
			_, err := config.Load(channelgate.DefaultSettings())
			require.ErrorContains(t, err, env+"=")
		})
	}
	_, err = channelgate.New(nil, channelgate.Settings{Chat: "@vpn_news", Scope: "all", URL: "t.me/x"}, nil)
	require.ErrorContains(t, err, "REQUIRED_CHANNEL_URL=", "New refuses what Validate does")
	for _, bad := range []string{"-100", "-100abc", "@abc", "@1channel", "-42"} {
		t.Setenv("REQUIRED_CHANNEL", bad)
		_, err := config.Load(channelgate.DefaultSettings())
		require.ErrorContains(t, err, "REQUIRED_CHANNEL=", bad)
	}

	t.Setenv("REQUIRED_CHANNEL", "")
	_, err = config.Load(channelgate.DefaultSettings())
	require.ErrorContains(t, err, "REQUIRED_CHANNEL_URL is set but REQUIRED_CHANNEL is empty")
}
