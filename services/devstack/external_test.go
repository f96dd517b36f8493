package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/localstack"
)

func TestRealApply(t *testing.T) {
	t.Run("nothing configured keeps every sandbox", func(t *testing.T) {
		var c localstack.Config
		Real{}.apply(&c, []string{"OUTLINE_CERT_SHA256=ab", "PATH=/bin"})
		require.Equal(t, localstack.Config{}, c)
		telegram, cryptoPay, panel := mode(c)
		require.Equal(t, []string{"sandbox", "sandbox", "sandbox Outline panels"}, []string{telegram, cryptoPay, panel})
	})
	t.Run("tokens and a panel choose the real ones", func(t *testing.T) {
		var c localstack.Config
		environ := []string{"VPN_PANEL=remnawave", "REMNAWAVE_URL=https://panel.example", "REMNAWAVE_TOKEN=t", "HOME=/root"}
		Real{TelegramToken: "1:A", CryptoPayToken: "2:B"}.apply(&c, environ)
		require.Equal(t, "1:A", c.Token)
		require.Equal(t, defaultTelegramAPIURL, c.TelegramAPIURL)
		require.Empty(t, c.WebhookPublicURL)
		require.Equal(t, "2:B", c.CryptoPayToken)
		require.Equal(t, cryptopay.DefaultBaseURL, c.CryptoPayAPIURL)
		require.Equal(t, environ[:3], c.PanelEnv)
		telegram, cryptoPay, panel := mode(c)
		require.Equal(t, defaultTelegramAPIURL+", polling", telegram)
		require.Equal(t, cryptopay.DefaultBaseURL, cryptoPay)
		require.Equal(t, "remnawave (VPN_PANEL)", panel)
	})
	t.Run("URLs given win, a public URL means a webhook", func(t *testing.T) {
		var c localstack.Config
		Real{
			TelegramToken: "1:A", TelegramAPIURL: "http://bot.example", WebhookPublicURL: "https://me.example",
			CryptoPayToken: "2:B", CryptoPayAPIURL: "https://testnet-pay.crypt.bot",
		}.apply(&c, []string{"OUTLINE_API_URL=https://outline.example/secret"})
		require.Equal(t, "http://bot.example", c.TelegramAPIURL)
		require.Equal(t, "https://testnet-pay.crypt.bot", c.CryptoPayAPIURL)
		telegram, _, panel := mode(c)
		require.Equal(t, "http://bot.example, webhook at https://me.example", telegram)
		require.Equal(t, "outline (VPN_PANEL)", panel)
	})
	t.Run("a list of panels is used as it is", func(t *testing.T) {
		var c localstack.Config
		panels := `VPN_PANELS=[{"name":"de-1","kind":"marzban"},{"name":"nl-1","kind":"3x-ui"}]`
		Real{}.apply(&c, []string{panels, "VPN_FAILOVER=false", "HOME=/root"})
		require.Equal(t, []string{panels, "VPN_FAILOVER=false"}, c.PanelEnv)
		_, _, panel := mode(c)
		require.Equal(t, "de-1 (marzban), nl-1 (3x-ui) (VPN_PANELS)", panel)
	})
	t.Run("a Crypto Pay URL without a token keeps the sandbox", func(t *testing.T) {
		var c localstack.Config
		Real{CryptoPayAPIURL: "https://testnet-pay.crypt.bot"}.apply(&c, nil)
		require.Empty(t, c.CryptoPayAPIURL)
	})
}

func TestTimeScaleEnv(t *testing.T) {
	env, err := timeScaleEnv(ScaleDemo)
	require.NoError(t, err)
	require.Contains(t, env, "TRIAL_DURATION=15m0s")
	require.Contains(t, env, "TRIAL_NOTICE_LEADS=10m,5m", "a 15-minute trial is told it ends soon")
	require.Contains(t, env, "REMINDER_STAGES=10m,5m")
	require.Contains(t, env, "EXPIRY_GRACE=1m0s")
	env, err = timeScaleEnv(ScaleReal)
	require.NoError(t, err)
	require.Empty(t, env)
	_, err = timeScaleEnv("fast")
	require.ErrorContains(t, err, `DEVSTACK_TIME_SCALE="fast"`)
}

func TestWithHostPort(t *testing.T) {
	got, err := withHostPort("postgres://postgres@db.example:5432/vpnbot?sslmode=disable", "127.0.0.1", 5433)
	require.NoError(t, err)
	require.Equal(t, "postgres://postgres@127.0.0.1:5433/vpnbot?sslmode=disable", got)
	_, err = withHostPort("host=db.example dbname=vpnbot", "127.0.0.1", 5433)
	require.Error(t, err, "a keyword/value DSN has no host to replace")
}

func TestMajorVersion(t *testing.T) {
	require.Equal(t, 15, majorVersion("/usr/lib/postgresql/15/bin/initdb"))
	require.Equal(t, 0, majorVersion("/usr/local/bin/initdb"))
}
