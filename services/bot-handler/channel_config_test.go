package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
)

func TestRequiredChannelFromTheEnvironment(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", "123:secret")
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, RequiredChannel{Scope: "trial", Cache: 30 * time.Second}, cfg.Channel, "off by default")
	ch, err := cfg.Channel.channel(nil, nil)
	require.NoError(t, err)
	require.Nil(t, ch)

	t.Setenv("REQUIRED_CHANNEL", "@vpn_news")
	cfg, err = config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, "https://t.me/vpn_news", cfg.Channel.joinURL(), "an @name links to itself")
	reg := prometheus.NewRegistry()
	ch, err = cfg.Channel.channel(nil, reg)
	require.NoError(t, err)
	require.NotNil(t, ch)
	families, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, families, 1)
	require.Equal(t, "vpnbot_bot_channel_checks_total", families[0].GetName())

	t.Setenv("REQUIRED_CHANNEL", "-1001234567890")
	t.Setenv("REQUIRED_CHANNEL_SCOPE", "all")
	t.Setenv("REQUIRED_CHANNEL_CACHE", "1m")
	_, err = config.Load(defaultConfig())
	require.ErrorContains(t, err, "REQUIRED_CHANNEL_URL is required with a numeric REQUIRED_CHANNEL")
	t.Setenv("REQUIRED_CHANNEL_URL", "https://t.me/+AbCdEf")
	cfg, err = config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, RequiredChannel{Chat: "-1001234567890", URL: "https://t.me/+AbCdEf", Scope: "all", Cache: time.Minute}, cfg.Channel)
	require.Equal(t, "https://t.me/+AbCdEf", cfg.Channel.joinURL())

	for env, bad := range map[string]string{
		"REQUIRED_CHANNEL":       "vpn_news",
		"REQUIRED_CHANNEL_URL":   "t.me/vpn_news",
		"REQUIRED_CHANNEL_SCOPE": "payments",
		"REQUIRED_CHANNEL_CACHE": "-1s",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, bad)
			_, err := config.Load(defaultConfig())
			require.ErrorContains(t, err, env+"=")
		})
	}
	for _, bad := range []string{"-100", "-100abc", "@abc", "@1channel", "-42"} {
		t.Setenv("REQUIRED_CHANNEL", bad)
		_, err := config.Load(defaultConfig())
		require.ErrorContains(t, err, "REQUIRED_CHANNEL=", bad)
	}

	t.Setenv("REQUIRED_CHANNEL", "")
	_, err = config.Load(defaultConfig())
	require.ErrorContains(t, err, "REQUIRED_CHANNEL_URL is set but REQUIRED_CHANNEL is empty")
}
