package telegram_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	tg "github.com/vpnbot/vpnbot/pkg/telegram"
)

// TestGetChatMemberAnswersEachStatusAsTelegram reads every status through
// the one Bot API client, as the bot-handler does, and the raw objects'
// fields that depend on the status.
func TestGetChatMemberAnswersEachStatusAsTelegram(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	client, err := tg.New(tg.Config{APIURL: e.s.URL(), Token: token})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	e.s.SetUser(telegram.User{ID: 1, FirstName: "Ann", Username: "ann"})
	for id, m := range map[int64]telegram.ChatMember{
		1: {Status: telegram.StatusCreator},
		2: {Status: telegram.StatusAdministrator},
		3: {Status: telegram.StatusMember},
		4: {Status: telegram.StatusRestricted, IsMember: true},
		5: {Status: telegram.StatusRestricted},
		6: {Status: telegram.StatusLeft},
		7: {Status: telegram.StatusKicked},
	} {
		require.NoError(t, e.s.SetChatMember("@VPN_News", id, m))
	}
	want := map[int64]tg.ChatMember{
		1: {Status: tg.MemberCreator},
		2: {Status: tg.MemberAdministrator},
		3: {Status: tg.MemberMember},
		4: {Status: tg.MemberRestricted, IsMember: true},
		5: {Status: tg.MemberRestricted},
		6: {Status: tg.MemberLeft},
		7: {Status: tg.MemberKicked},
		8: {Status: tg.MemberLeft}, // never set: has not joined
	}
	joined := map[int64]bool{1: true, 2: true, 3: true, 4: true}
	for id, w := range want {
		// Telegram ignores the case of a username.
		got, err := client.GetChatMember(ctx, "@vpn_news", id)
		require.NoError(t, err, "user %d", id)
		require.Equal(t, w, got, "user %d", id)
		require.Equal(t, joined[id], got.Joined(), "user %d", id)
	}

	var creator map[string]any
	a := e.callJSON("getChatMember", map[string]any{"chat_id": "@vpn_news", "user_id": 1})
	require.True(t, a.OK, a.Description)
	require.NoError(t, json.Unmarshal(a.Result, &creator))
	require.Equal(t, map[string]any{"status": "creator", "is_anonymous": false,
		"user": map[string]any{"id": float64(1), "is_bot": false, "first_name": "Ann", "username": "ann"}}, creator)
	var restricted map[string]any
	a = e.callJSON("getChatMember", map[string]any{"chat_id": "@vpn_news", "user_id": 5})
	require.NoError(t, json.Unmarshal(a.Result, &restricted))
	require.Equal(t, false, restricted["is_member"], "a restricted member says whether they are in the chat")
	require.Contains(t, restricted, "until_date")

	require.Error(t, e.s.SetChatMember("@vpn_news", 9, telegram.ChatMember{Status: "banned"}))
}

func TestGetChatMemberRefusesAsTelegram(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	const channel = "-1001234567890"
	require.NoError(t, e.s.SetChatMember(channel, 3, telegram.ChatMember{Status: telegram.StatusMember}))

	a := e.callJSON("getChatMember", map[string]any{"chat_id": "@nowhere", "user_id": 3})
	require.Equal(t, answer{Status: 400, ErrorCode: 400, Description: "Bad Request: chat not found"}, a)
	a = e.callJSON("getChatMember", map[string]any{"chat_id": channel})
	require.Equal(t, "Bad Request: invalid user_id specified", a.Description)
	require.True(t, e.callJSON("getChatMember", map[string]any{"chat_id": -1001234567890, "user_id": 3}).OK,
		"a numeric chat_id finds the channel set up by its id")

	e.s.HideMembers(channel, true)
	a = e.callJSON("getChatMember", map[string]any{"chat_id": channel, "user_id": 3})
	require.Equal(t, answer{Status: 400, ErrorCode: 400, Description: "Bad Request: member list is inaccessible"}, a)
	e.s.HideMembers(channel, false)

	// Faults match getChatMember by method and by the channel's id.
	e.s.Inject(telegram.Fault{Method: "getChatMember", ChatID: -1001234567890, Status: http.StatusInternalServerError, Times: 1})
	require.Equal(t, 500, e.callJSON("getChatMember", map[string]any{"chat_id": channel, "user_id": 3}).ErrorCode)
	require.True(t, e.callJSON("getChatMember", map[string]any{"chat_id": channel, "user_id": 3}).OK)
	require.Equal(t, 6, e.s.Stats().Requests["getChatMember"], "every call is counted, refused or not")
}

func TestSandboxHTTPAPISetsChannelMembers(t *testing.T) {
	t.Parallel()
	e := start(t, telegram.Config{})
	status, body := e.sandbox(http.MethodPut, "/sandbox/channels/@news/members/5", `{"status":"restricted","is_member":true}`)
	require.Equal(t, http.StatusNoContent, status, string(body))
	a := e.callJSON("getChatMember", map[string]any{"chat_id": "@news", "user_id": 5})
	require.True(t, a.OK, a.Description)
	got := decode[tg.ChatMember](t, a.Result)
	require.True(t, got.Joined())

	status, _ = e.sandbox(http.MethodPut, "/sandbox/channels/@news/members/5", `{"status":"left"}`)
	require.Equal(t, http.StatusNoContent, status)
	require.False(t, decode[tg.ChatMember](t, e.callJSON("getChatMember", map[string]any{"chat_id": "@news", "user_id": 5}).Result).Joined())

	status, _ = e.sandbox(http.MethodPut, "/sandbox/channels/@news/members/5", `{"status":"sleeping"}`)
	require.Equal(t, http.StatusBadRequest, status)

	status, _ = e.sandbox(http.MethodPost, "/sandbox/channels/@news/hide-members", "")
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, "Bad Request: member list is inaccessible",
		e.callJSON("getChatMember", map[string]any{"chat_id": "@news", "user_id": 5}).Description)
	status, _ = e.sandbox(http.MethodPost, "/sandbox/channels/@news/show-members", "")
	require.Equal(t, http.StatusNoContent, status)
	require.True(t, e.callJSON("getChatMember", map[string]any{"chat_id": "@news", "user_id": 5}).OK)
}

func TestRestartKeepsChannelMembers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := start(t, telegram.Config{StateDir: dir})
	require.NoError(t, first.s.SetChatMember("@news", 5, telegram.ChatMember{Status: telegram.StatusMember}))
	first.s.HideMembers("@secret", true)
	first.s.Close()

	again := start(t, telegram.Config{StateDir: dir})
	got := decode[tg.ChatMember](t, again.callJSON("getChatMember", map[string]any{"chat_id": "@news", "user_id": 5}).Result)
	require.Equal(t, tg.ChatMember{Status: tg.MemberMember}, got)
	require.Equal(t, "Bad Request: member list is inaccessible",
		again.callJSON("getChatMember", map[string]any{"chat_id": "@secret", "user_id": 5}).Description)
}
