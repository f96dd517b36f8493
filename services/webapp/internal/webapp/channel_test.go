package webapp_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/webapp/internal/webapp"
)

const joinURL = "https://t.me/vpn_news"

// members is Telegram's view of the channel: who is in it, how many times
// it was asked, and whether it fails.
type members struct {
	mu     sync.Mutex
	joined map[int64]bool
	asked  int
	fail   bool
}

func (m *members) GetChatMember(_ context.Context, chat string, userID int64) (telegram.ChatMember, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked++
	if chat != "@vpn_news" {
		return telegram.ChatMember{}, errors.New("unexpected chat " + chat)
	}
	if m.fail {
		return telegram.ChatMember{}, errors.New("Bad Request: member list is inaccessible")
	}
	if m.joined[userID] {
		return telegram.ChatMember{Status: telegram.MemberMember}, nil
	}
	return telegram.ChatMember{Status: telegram.MemberLeft}, nil
}

func (m *members) set(f func(m *members)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

func (m *members) calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.asked
}

// gatedEnv is an app whose required channel has scope.
func gatedEnv(t *testing.T, scope string) (*env, *members) {
	t.Helper()
	m := &members{joined: map[int64]bool{}}
	ch, err := channelgate.New(m, channelgate.Settings{Chat: "@vpn_news", Scope: scope, Cache: time.Minute}, nil)
	require.NoError(t, err)
	return newEnv(t, func(c *webapp.Config) { c.Channel = ch }), m
}

// In scope all the cabinet is for the channel's members: every call of a
// user who has not joined answers 403 channel_required with the link to
// join, until "Check again" finds them in it.
func TestInScopeAllTheCabinetIsForTheChannelsMembersOnly(t *testing.T) {
	t.Parallel()
	e, m := gatedEnv(t, channelgate.ScopeAll)
	const user = 73001
	e.user(t, user, "en")
	e.trialWithKey(t, user, "ss://Y2hhY2hh@vpn.example.com:443/?outline=1")
	s := e.signIn(t, user)

	for _, path := range []string{"/api/me", "/api/plans", "/api/payments", "/api/invite", "/api/key/qr"} {
		res := e.get(t, s, path)
		require.Equal(t, http.StatusForbidden, res.Code, path)
		var body struct {
			Error   string `json:"error"`
			JoinURL string `json:"join_url"`
		}
		res.json(t, &body)
		require.Equal(t, "channel_required", body.Error, path)
		require.Equal(t, joinURL, body.JoinURL, path)
	}
	res := e.order(t, s, `{"plan":"m1","provider":"cryptopay"}`)
	require.Equal(t, http.StatusForbidden, res.Code)
	require.Equal(t, "channel_required", res.errorCode(t))
	require.Empty(t, e.cp.Invoices(), "nothing ordered")
	require.Equal(t, 1, m.calls(), "the answer is kept: Telegram was asked once")

	// Joined meanwhile: the cache still says no, Check again asks anew.
	m.set(func(m *members) { m.joined[user] = true })
	require.Equal(t, http.StatusForbidden, e.get(t, s, "/api/me").Code)
	var v webapp.ChannelView
	e.get(t, s, "/api/channel").json(t, &v)
	require.Equal(t, webapp.ChannelView{Required: true, Joined: true, JoinURL: joinURL}, v)
	require.Equal(t, http.StatusOK, e.get(t, s, "/api/me").Code, "let in at once")
	require.Equal(t, http.StatusOK, e.get(t, s, "/api/plans").Code)
}

// A check Telegram cannot answer lets the user in, logged; a user who has
// not joined is told so by Check again.
func TestAFailedChannelCheckLetsTheUserIn(t *testing.T) {
	t.Parallel()
	e, m := gatedEnv(t, channelgate.ScopeAll)
	const user = 73002
	e.user(t, user, "ru")
	s := e.signIn(t, user)
	m.set(func(m *members) { m.fail = true })
	require.Equal(t, http.StatusOK, e.get(t, s, "/api/me").Code, "Telegram's trouble blocks no one")
	require.Len(t, e.logs.Lines(channelgate.EventCheckFailed, `"user_id":73002`), 1)

	m.set(func(m *members) { m.fail = false })
	var v webapp.ChannelView
	e.get(t, s, "/api/channel").json(t, &v)
	require.Equal(t, webapp.ChannelView{Required: true, Joined: false, JoinURL: joinURL}, v)
	require.Equal(t, http.StatusForbidden, e.get(t, s, "/api/me").Code, "a failure was not kept: the check after it was")
}

// In scope trial, and with no channel, the cabinet (which offers no trial)
// is open to all, and Check again says there is nothing to join.
func TestOutsideScopeAllTheCabinetIsOpen(t *testing.T) {
	t.Parallel()
	e, m := gatedEnv(t, channelgate.ScopeTrial)
	const user = 73003
	e.user(t, user, "en")
	s := e.signIn(t, user)
	require.Equal(t, http.StatusOK, e.get(t, s, "/api/me").Code)
	require.Equal(t, http.StatusOK, e.get(t, s, "/api/plans").Code)
	var v webapp.ChannelView
	e.get(t, s, "/api/channel").json(t, &v)
	require.Equal(t, webapp.ChannelView{Joined: true}, v)
	require.Zero(t, m.calls(), "Telegram is not asked")

	open := newEnv(t)
	open.user(t, user, "en")
	s = open.signIn(t, user)
	require.Equal(t, http.StatusOK, open.get(t, s, "/api/me").Code)
	open.get(t, s, "/api/channel").json(t, &v)
	require.Equal(t, webapp.ChannelView{Joined: true}, v)
}
