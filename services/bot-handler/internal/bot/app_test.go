package bot_test

import (
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// A bot with a Mini App makes its menu button open it; without one it puts
// Telegram's default back, so no button is left pointing at an app that went
// away.
func TestTheMenuButtonOpensTheApp(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	sb := sandboxtg.New(sandboxtg.Config{Token: adminToken, GlobalRate: -1, ChatRate: -1})
	require.NoError(t, sb.Start("127.0.0.1:0"))
	t.Cleanup(sb.Close)
	client, err := telegram.New(telegram.Config{APIURL: sb.URL(), Token: adminToken})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	start := func(app string) {
		t.Helper()
		_, err := bot.New(t.Context(), bot.Config{Client: client, Users: store.New(db.Pool), Shop: shop.New(db.Pool, shop.Config{}),
			Support: "@vpn_help", AppURL: app, Log: zerolog.Nop()})
		require.NoError(t, err)
	}

	start("https://app.example.com/")
	require.Equal(t, sandboxtg.MenuButton{Type: "web_app", Text: "📱 Open app", URL: "https://app.example.com/"}, sb.MenuButton())
	start("")
	require.Equal(t, sandboxtg.MenuButton{Type: "default"}, sb.MenuButton())
}
