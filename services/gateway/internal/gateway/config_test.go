package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/services/gateway/internal/gateway"
)

func TestConfigDefaultsAndEnvironment(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", testToken)
	t.Setenv("TELEGRAM_WEBHOOK_SECRET", testSecret)
	t.Setenv("WEBHOOK_ALLOWED_UPDATES", "message, callback_query ,")
	t.Setenv("PUBLISH_TIMEOUT", "3s")

	cfg, err := config.Load(gateway.DefaultConfig())
	require.NoError(t, err)
	require.Equal(t, ":9101", cfg.OpsAddr)
	require.Equal(t, ":8081", cfg.HTTPAddr)
	require.Equal(t, gateway.ModeWebhook, cfg.Mode)
	require.Equal(t, 64, cfg.Partitions)
	require.Equal(t, 3*time.Second, cfg.PublishTimeout)
	require.Equal(t, 40, cfg.WebhookMaxConnections)
	require.Equal(t, 60*time.Second, cfg.WatchdogGrace)
	require.Equal(t, "https://api.telegram.org", cfg.Telegram.APIURL)
	require.Equal(t, []string{"message", "callback_query"}, cfg.WebhookAllowedUpdates)

	fields := config.Fields(cfg)
	require.Equal(t, "***", fields["TELEGRAM_BOT_TOKEN"])
	require.Equal(t, "***", fields["TELEGRAM_WEBHOOK_SECRET"])
	require.Equal(t, "webhook", fields["GATEWAY_MODE"])
}

func TestConfigDefaultAllowedUpdates(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", testToken)
	t.Setenv("TELEGRAM_WEBHOOK_SECRET", testSecret)
	cfg, err := config.Load(gateway.DefaultConfig())
	require.NoError(t, err)
	require.Equal(t, []string{"message", "edited_message", "callback_query", "pre_checkout_query", "my_chat_member"}, cfg.WebhookAllowedUpdates)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := func() gateway.Config {
		c := gateway.DefaultConfig()
		c.Telegram.Token, c.WebhookSecret = testToken, testSecret
		return c
	}
	for _, tc := range []struct {
		name   string
		change func(*gateway.Config)
		want   string // "" = valid
	}{
		{"defaults with token and secret", func(*gateway.Config) {}, ""},
		{"no token", func(c *gateway.Config) { c.Telegram.Token = "" }, "TELEGRAM_BOT_TOKEN"},
		{"malformed token", func(c *gateway.Config) { c.Telegram.Token = "not-a-token" }, "TELEGRAM_BOT_TOKEN"},
		{"webhook without secret", func(c *gateway.Config) { c.WebhookSecret = "" }, "TELEGRAM_WEBHOOK_SECRET is required"},
		{"secret with a space", func(c *gateway.Config) { c.WebhookSecret = "has space" }, "TELEGRAM_WEBHOOK_SECRET"},
		{"secret with a colon", func(c *gateway.Config) { c.WebhookSecret = "a:b" }, "TELEGRAM_WEBHOOK_SECRET"},
		{"secret of 257 characters", func(c *gateway.Config) { c.WebhookSecret = strings.Repeat("a", 257) }, "TELEGRAM_WEBHOOK_SECRET"},
		{"secret of 256 characters", func(c *gateway.Config) { c.WebhookSecret = strings.Repeat("aZ9_-", 51) + "x" }, ""},
		{"poll without secret", func(c *gateway.Config) { c.Mode, c.WebhookSecret = gateway.ModePoll, "" }, ""},
		{"poll with a public URL", func(c *gateway.Config) { c.Mode, c.WebhookPublicURL = gateway.ModePoll, "https://bot.example.com" }, "WEBHOOK_PUBLIC_URL"},
		{"unknown mode", func(c *gateway.Config) { c.Mode = "push" }, "GATEWAY_MODE"},
		{"public URL without scheme", func(c *gateway.Config) { c.WebhookPublicURL = "bot.example.com" }, "WEBHOOK_PUBLIC_URL"},
		{"API URL not http", func(c *gateway.Config) { c.Telegram.APIURL = "ftp://api" }, "TELEGRAM_API_URL"},
		{"no partitions", func(c *gateway.Config) { c.Partitions = 0 }, "UPDATE_PARTITIONS"},
		{"no publish timeout", func(c *gateway.Config) { c.PublishTimeout = 0 }, "PUBLISH_TIMEOUT"},
		{"too many connections", func(c *gateway.Config) { c.WebhookMaxConnections = 101 }, "WEBHOOK_MAX_CONNECTIONS"},
		{"negative grace", func(c *gateway.Config) { c.WatchdogGrace = -time.Second }, "WATCHDOG_GRACE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			if c.WebhookSecret != "" {
				require.NotContains(t, err.Error(), c.WebhookSecret, "the secret is never echoed")
			}
		})
	}
}

func TestWebhookURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://bot.example.com":                  "https://bot.example.com/telegram/webhook",
		"https://bot.example.com/":                 "https://bot.example.com/telegram/webhook",
		"https://bot.example.com:8443":             "https://bot.example.com:8443/telegram/webhook",
		"https://bot.example.com/tg/hook":          "https://bot.example.com/tg/hook",
		"https://bot.example.com/telegram/webhook": "https://bot.example.com/telegram/webhook",
	} {
		c := gateway.Config{WebhookPublicURL: in}
		require.Equal(t, want, c.WebhookURL(), in)
	}
}
