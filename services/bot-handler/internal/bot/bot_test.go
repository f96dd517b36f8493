package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	tele "gopkg.in/telebot.v3"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
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
		Log:    zerolog.New(&logs),
	})
	require.ErrorContains(t, err, "asking Telegram who the bot is")
	require.NotContains(t, err.Error(), "very-secret")
	require.Contains(t, logs.String(), "getMe", "each failed attempt is logged")
	require.NotContains(t, logs.String(), "very-secret")
}

// A handler's panic is not the bot's to recover: it reaches the caller, the
// consumer, which dead-letters the update with its stack (package updates
// tests that end).
func TestHandlerPanicReachesTheCaller(t *testing.T) {
	t.Parallel()
	const token = "123456:TEST-panic"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb := sandboxtg.New(sandboxtg.Config{Token: token, GlobalRate: -1, ChatRate: -1})
	require.NoError(t, sb.Start("127.0.0.1:0"))
	t.Cleanup(sb.Close)
	client, err := telegram.New(telegram.Config{APIURL: sb.URL(), Token: token})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	// Without Users every command's handler panics on its first lookup.
	b, err := bot.New(ctx, bot.Config{Client: client, Log: zerolog.Nop()})
	require.NoError(t, err)
	var u tele.Update
	require.NoError(t, json.Unmarshal([]byte(`{"update_id":1,"message":{"message_id":1,"from":{"id":7,"is_bot":false,"first_name":"A"},`+
		`"chat":{"id":7,"type":"private"},"date":1700000000,"text":"/help"}}`), &u))

	require.Panics(t, func() { _, _ = b.Process(ctx, u) })
}
