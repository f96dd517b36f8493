package console_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack/console"
	"github.com/vpnbot/vpnbot/pkg/webappauth"
)

// The chat opens the bot's Mini App as Telegram's client does: the page
// sees the app's button and the menu button, and gets initData for the
// chat's user signed with the bot's token.
func TestTheChatOpensTheMiniAppSignedForItsUser(t *testing.T) {
	t.Parallel()
	e := start(t, console.Config{})
	status, body := e.do(http.MethodGet, "/api/menu-button", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"type":"default","text":"","url":""}`, string(body))

	e.bot("setChatMenuButton", map[string]any{"menu_button": map[string]any{
		"type": "web_app", "text": "Open app", "web_app": map[string]any{"url": "http://127.0.0.1:1/"}}})
	status, body = e.do(http.MethodGet, "/api/menu-button", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"type":"web_app","text":"Open app","url":"http://127.0.0.1:1/"}`, string(body))

	e.bot("sendMessage", map[string]any{"chat_id": 5, "text": "Menu", "reply_markup": map[string]any{
		"inline_keyboard": [][]map[string]any{{{"text": "Open app", "web_app": map[string]any{"url": "http://127.0.0.1:1/"}}}}}})
	require.Equal(t, "http://127.0.0.1:1/", e.chat(5)[0].Buttons[0][0].WebApp)

	status, body = e.do(http.MethodPut, "/api/chats/5/user", `{"first_name":"Ann"}`)
	require.Equal(t, http.StatusNoContent, status, string(body))
	status, body = e.do(http.MethodGet, "/api/chats/5/webapp", "")
	require.Equal(t, http.StatusOK, status)
	launch := decode[struct {
		InitData string `json:"init_data"`
	}](t, body)
	auth, err := webappauth.NewVerifier(token, time.Minute, time.Now).InitData(launch.InitData)
	require.NoError(t, err)
	require.EqualValues(t, 5, auth.User.ID)
	require.Equal(t, "Ann", auth.User.FirstName)
}
