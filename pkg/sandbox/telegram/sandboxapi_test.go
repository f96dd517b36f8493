package telegram_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

func TestSandboxHTTPAPIDrivesAChat(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()

	status, body := e.sandbox(http.MethodPut, "/sandbox/users/5", `{"first_name":"Ann","language_code":"de"}`)
	require.Equal(t, http.StatusNoContent, status, string(body))
	status, body = e.sandbox(http.MethodPost, "/sandbox/users/5/messages", `{"text":"hi"}`)
	require.Equal(t, http.StatusOK, status, string(body))
	written := decode[struct {
		UpdateID int64 `json:"update_id"`
	}](t, body)
	updates := decode[[]wireUpdate](t, e.callJSON("getUpdates", map[string]any{}).Result)
	require.Len(t, updates, 1)
	require.Equal(t, written.UpdateID, updates[0].UpdateID)
	require.Equal(t, "hi", updates[0].Message.Text)
	require.Equal(t, "de", updates[0].Message.From.LanguageCode)

	markup := &tele.ReplyMarkup{}
	markup.Inline(markup.Row(markup.Data("Buy", "buy")))
	sent, err := b.Send(&tele.User{ID: 5}, "Hello Ann", markup)
	require.NoError(t, err)

	status, body = e.sandbox(http.MethodGet, "/sandbox/chats/5/messages", "")
	require.Equal(t, http.StatusOK, status)
	chat := decode[[]telegram.Message](t, body)
	require.Len(t, chat, 1)
	require.Equal(t, "Hello Ann", chat[0].Text)
	require.Equal(t, "\fbuy", chat[0].Buttons[0][0].Data)

	status, body = e.sandbox(http.MethodPost, "/sandbox/users/5/callbacks", fmt.Sprintf(`{"message_id":%d,"data":"\fbuy"}`, sent.ID))
	require.Equal(t, http.StatusOK, status, string(body))
	updates = decode[[]wireUpdate](t, e.callJSON("getUpdates", map[string]any{"offset": written.UpdateID + 1}).Result)
	require.Len(t, updates, 1)
	require.Equal(t, "\fbuy", updates[0].CallbackQuery.Data)
	require.Equal(t, int64(sent.ID), updates[0].CallbackQuery.Message.MessageID)

	status, _ = e.sandbox(http.MethodPost, "/sandbox/users/5/block", "")
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, http.StatusForbidden, e.callJSON("sendMessage", map[string]any{"chat_id": 5, "text": "x"}).Status)
	status, _ = e.sandbox(http.MethodPost, "/sandbox/users/5/unblock", "")
	require.Equal(t, http.StatusNoContent, status)

	status, _ = e.sandbox(http.MethodPost, "/sandbox/faults", `{"method":"getMe","status":502,"times":1,"latency":"1ms"}`)
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, answer{Status: 502, ErrorCode: 502, Description: "Bad Gateway"}, e.callJSON("getMe", nil))
	require.True(t, e.callJSON("getMe", nil).OK)
	status, _ = e.sandbox(http.MethodPost, "/sandbox/faults", `{"hang":true}`)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = e.sandbox(http.MethodDelete, "/sandbox/faults", "")
	require.Equal(t, http.StatusNoContent, status)
	require.True(t, e.callJSON("getMe", nil).OK)

	status, body = e.sandbox(http.MethodGet, "/sandbox/stats", "")
	require.Equal(t, http.StatusOK, status)
	stats := decode[telegram.Stats](t, body)
	require.Equal(t, 3, stats.Requests["getMe"])
	require.Equal(t, 2, stats.Requests["sendMessage"])
	require.Equal(t, 1, stats.Forbidden)
	require.Equal(t, 1, stats.Pending)

	status, _ = e.sandbox(http.MethodGet, "/sandbox/nothing", "")
	require.Equal(t, http.StatusNotFound, status)
	status, _ = e.sandbox(http.MethodPost, "/sandbox/users/abc/messages", `{"text":"x"}`)
	require.Equal(t, http.StatusBadRequest, status)
}
