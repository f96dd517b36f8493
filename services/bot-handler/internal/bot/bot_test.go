package bot_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/bot"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartWithoutTelegramFailsWithoutLeakingTheToken(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: every getMe fails at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	client, err := telegram.New(telegram.Config{APIURL: "http://" + addr, Token: "42:very-secret"})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	_, err = bot.New(ctx, bot.Config{
		Client: client,
		APIURL: "http://" + addr,
		Token:  "42:very-secret",
		Log:    zerolog.New(&logs),
	})
	require.ErrorContains(t, err, "asking Telegram who the bot is")
	require.NotContains(t, err.Error(), "very-secret")
	require.Contains(t, logs.String(), "getMe", "each failed attempt is logged")
	require.NotContains(t, logs.String(), "very-secret")
}
