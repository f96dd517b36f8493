package telegram_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/webappauth"
)

// The menu button is the bot's to set: a Mini App under its text, or back to
// the default; a web_app without text or URL is refused as Telegram does.
func TestTheMenuButtonOpensTheAppItWasSetTo(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	require.Equal(t, telegram.MenuButton{Type: "default"}, e.s.MenuButton())

	app := map[string]any{"type": "web_app", "text": "Open app", "web_app": map[string]any{"url": "https://app.example.com/"}}
	require.True(t, e.callJSON("setChatMenuButton", map[string]any{"menu_button": app}).OK)
	require.Equal(t, telegram.MenuButton{Type: "web_app", Text: "Open app", URL: "https://app.example.com/"}, e.s.MenuButton())
	got := decode[map[string]any](t, e.callJSON("getChatMenuButton", map[string]any{}).Result)
	require.Equal(t, app, got)

	a := e.callJSON("setChatMenuButton", map[string]any{"menu_button": map[string]any{"type": "web_app", "text": "Open app"}})
	require.Equal(t, "Bad Request: BUTTON_TEXT_INVALID", a.Description)
	require.Equal(t, "web_app", e.s.MenuButton().Type, "a refused change changes nothing")

	require.True(t, e.callJSON("setChatMenuButton", map[string]any{"menu_button": map[string]any{"type": "default"}}).OK)
	require.Equal(t, telegram.MenuButton{Type: "default"}, e.s.MenuButton())
}

// The initData the sandbox opens the Mini App with is valid for the bot's
// token, of the user as the chat knows them, and for no other token.
func TestTheAppOpensWithInitDataSignedForTheBot(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	e.s.SetUser(telegram.User{ID: 42, FirstName: "Ann", Username: "ann", LanguageCode: "ru"})
	raw := e.s.WebAppInitData(42)
	auth, err := webappauth.NewVerifier(token, time.Minute, time.Now).InitData(raw)
	require.NoError(t, err)
	require.Equal(t, webappauth.User{ID: 42, FirstName: "Ann", Username: "ann", LanguageCode: "ru"}, auth.User)
	_, err = webappauth.NewVerifier("1:OTHER", time.Minute, time.Now).InitData(raw)
	require.Error(t, err)
}
