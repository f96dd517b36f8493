package channelgate

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// The cache stays within its size: a full one drops expired answers first,
// and any one when none has expired.
func TestTheCacheIsBounded(t *testing.T) {
	t.Parallel()
	const token = "123456:TEST-channel-cache"
	sb := sandboxtg.New(sandboxtg.Config{Token: token, GlobalRate: -1, ChatRate: -1})
	require.NoError(t, sb.Start("127.0.0.1:0"))
	t.Cleanup(sb.Close)
	client, err := telegram.New(telegram.Config{APIURL: sb.URL(), Token: token})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	for user := int64(1); user <= 4; user++ {
		require.NoError(t, sb.SetChatMember("@news", user, sandboxtg.ChatMember{Status: sandboxtg.StatusMember}))
	}
	now := time.Date(2026, time.December, 7, 12, 0, 0, 0, time.UTC)
	c, err := New(client, Settings{Chat: "@news", Scope: ScopeTrial, Cache: time.Minute}, nil, WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	c.size = 2
	ctx := context.Background()
	joined := func(user int64) {
		t.Helper()
		ok, err := c.Joined(ctx, user, false)
		require.NoError(t, err)
		require.True(t, ok)
	}

	joined(1)
	joined(2)
	joined(1)
	require.Equal(t, 2, sb.Stats().Requests["getChatMember"], "user 1's second check is the cache's")
	joined(3)
	require.Len(t, c.cache, 2, "full: one answer made room")
	require.Contains(t, c.cache, int64(3))

	now = now.Add(time.Minute)
	joined(4)
	require.Equal(t, map[int64]answer{4: {joined: true, until: now.Add(time.Minute)}}, c.cache,
		"the expired answers went first")
}
