package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/config"
)

func TestTheDefaultsWorkWithAToken(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", "123456:AAdefaults")
	cfg, err := config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, ":9110", cfg.OpsAddr, "9109 is the key server's")
	require.Equal(t, ":8091", cfg.HTTPAddr)
	require.EqualValues(t, 2, cfg.PoolMaxSize, "deploy/budget.yaml's share")
	require.Equal(t, "***", config.Fields(cfg)["TELEGRAM_BOT_TOKEN"], "the token is masked in the start-up log")

	t.Setenv("WEBAPP_FRAME_ANCESTORS", "http://127.0.0.1:*,https://*.example.com")
	cfg, err = config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, []string{"http://127.0.0.1:*", "https://*.example.com"}, cfg.FrameAncestors)
	require.Equal(t, channelgate.DefaultSettings(), cfg.Channel, "no channel required")

	t.Setenv("REQUIRED_CHANNEL", "@vpn_news")
	t.Setenv("REQUIRED_CHANNEL_SCOPE", "all")
	cfg, err = config.Load(defaultConfig())
	require.NoError(t, err)
	require.Equal(t, "all", cfg.Channel.Scope, "the bot-handler's setting, read the same")
}

func TestSettingsThatCannotWorkAreRefused(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"no token":         {},
		"session too long": {"TELEGRAM_BOT_TOKEN": "123456:AAx", "SESSION_TTL": "48h"},
		"no rate":          {"TELEGRAM_BOT_TOKEN": "123456:AAx", "RATE_PER_USER": "0"},
		"old signatures":   {"TELEGRAM_BOT_TOKEN": "123456:AAx", "INIT_DATA_MAX_AGE": "10s"},
		"no Crypto Pay":    {"TELEGRAM_BOT_TOKEN": "123456:AAx", "CRYPTOPAY_API_URL": "pay.crypt.bot"},
		"framed by a path": {"TELEGRAM_BOT_TOKEN": "123456:AAx", "WEBAPP_FRAME_ANCESTORS": "https://example.com/x"},
		"framed by script": {"TELEGRAM_BOT_TOKEN": "123456:AAx", "WEBAPP_FRAME_ANCESTORS": "javascript:alert(1)"},
		"channel scope":    {"TELEGRAM_BOT_TOKEN": "123456:AAx", "REQUIRED_CHANNEL": "@vpn_news", "REQUIRED_CHANNEL_SCOPE": "payments"},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			_, err := config.Load(defaultConfig())
			require.Error(t, err)
		})
	}
}
