package telegram_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// TestAnswersCountEveryTimeTheBotAnsweredAnUpdate plays a bot that answers
// one message twice, one button press twice (Telegram refuses the second)
// and one pre-checkout query once: the answers say so, update by update, and
// an update the bot left alone has none.
func TestAnswersCountEveryTimeTheBotAnsweredAnUpdate(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	hello := e.s.SendText(4, "hello")
	ignored := e.s.SendText(4, "ignored")
	for range 2 {
		sent := e.callJSON("sendMessage", map[string]any{"chat_id": 4, "text": "hi", "reply_parameters": map[string]any{"message_id": 1}})
		require.True(t, sent.OK, sent.Description)
	}
	require.True(t, e.callJSON("sendMessage", map[string]any{"chat_id": 4, "text": "not a reply"}).OK)

	press := e.s.PressButton(4, 3, "menu")
	callbackID := "123456" + strconv.FormatInt(press, 10) // the bot id, then the update id
	require.True(t, e.callJSON("answerCallbackQuery", map[string]any{"callback_query_id": callbackID}).OK)
	require.False(t, e.callJSON("answerCallbackQuery", map[string]any{"callback_query_id": callbackID}).OK,
		"Telegram refuses a second answer")

	query := e.payAnswering(4, e.sendStarsInvoice(4, "order-4"), press+1)

	require.Len(t, e.s.Answers(hello), 2, "two replies to the message")
	require.Empty(t, e.s.Answers(ignored))
	require.Len(t, e.s.Answers(press), 2, "two answers to the press, the refused one included")
	require.Len(t, e.s.Answers(query.UpdateID), 1)
	times := e.s.Answers(hello)
	require.False(t, times[1].Before(times[0]), "oldest first")
}
