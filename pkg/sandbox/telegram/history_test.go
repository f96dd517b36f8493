package telegram_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

func TestHistoryShowsBothSidesInOrderAndChatsListsThem(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	b := e.bot()
	require.Empty(t, e.s.Chats())
	require.Nil(t, e.s.History(9))

	e.s.SendText(9, "/start")
	sent, err := b.Send(&tele.User{ID: 9}, "Hello")
	require.NoError(t, err)
	e.s.SendText(9, "thanks")
	_, err = b.Edit(sent, "Hello again")
	require.NoError(t, err)
	e.s.SendText(7, "hi")

	h := e.s.History(9)
	require.Len(t, h, 3)
	require.True(t, h[0].FromUser)
	require.Equal(t, "/start", h[0].Plain)
	require.False(t, h[1].FromUser)
	require.Equal(t, "Hello again", h[1].Plain, "edits applied")
	require.Equal(t, 1, h[1].Edits)
	require.True(t, h[2].FromUser)
	require.Equal(t, []int64{1, 2, 3}, []int64{h[0].ID, h[1].ID, h[2].ID}, "one id sequence for both sides")
	require.Len(t, e.s.Messages(9), 1, "Messages still lists the bot's only")
	require.False(t, e.s.Messages(9)[0].FromUser)

	require.Equal(t, []int64{7, 9}, e.s.Chats())
}
