package botapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/services/gateway/internal/botapi"
)

const token = "987654:SECRET-bot-token"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type outcomes struct {
	mu  sync.Mutex
	got []string
}

func (o *outcomes) observe(method, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, method+":"+outcome)
}

func newClient(t *testing.T, url string, o *outcomes) *botapi.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	var observe botapi.ObserveFunc
	if o != nil {
		observe = o.observe
	}
	return botapi.New(url, token, &http.Client{Transport: tr}, observe)
}

func startSandbox(t *testing.T) *sandboxtg.Server {
	t.Helper()
	sb := sandboxtg.New(sandboxtg.Config{Token: token, Log: zerolog.Nop()})
	require.NoError(t, sb.Start("127.0.0.1:0"))
	t.Cleanup(sb.Close)
	return sb
}

func TestTransportErrorsNeverShowTheToken(t *testing.T) {
	t.Parallel()
	o := &outcomes{}
	_, err := newClient(t, "http://127.0.0.1:1", o).GetWebhookInfo(context.Background())
	require.ErrorContains(t, err, "getWebhookInfo")
	require.NotContains(t, err.Error(), token)
	require.NotContains(t, err.Error(), "987654")

	// A server that accepts but never answers: the call ends with its context.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	conns := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			conns <- c
		}
		close(conns)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = newClient(t, "http://"+ln.Addr().String(), o).GetUpdates(ctx, botapi.GetUpdatesParams{Timeout: 25})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotContains(t, err.Error(), token)
	for c := range conns {
		require.NoError(t, c.Close())
	}
	require.Equal(t, []string{"getWebhookInfo:transport_error", "getUpdates:transport_error"}, o.got)
}

func TestAPIErrorsCarryTelegramsCodeAndDescription(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	o := &outcomes{}
	c := newClient(t, sb.URL(), o)
	require.NoError(t, c.SetWebhook(context.Background(), botapi.SetWebhookParams{
		URL: "http://127.0.0.1:1/hook", SecretToken: "abc", AllowedUpdates: []string{"message"}, MaxConnections: 5,
	}))
	info, err := c.GetWebhookInfo(context.Background())
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:1/hook", info.URL)
	require.Equal(t, 5, info.MaxConnections)
	require.Equal(t, []string{"message"}, info.AllowedUpdates)

	_, err = c.GetUpdates(context.Background(), botapi.GetUpdatesParams{})
	apiErr, ok := errors.AsType[*botapi.APIError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, http.StatusConflict, apiErr.Code)
	require.Contains(t, apiErr.Description, "webhook is active")

	_, err = botapi.New(sb.URL(), "987654:wrong", http.DefaultClient, nil).GetWebhookInfo(context.Background())
	apiErr, ok = errors.AsType[*botapi.APIError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, http.StatusUnauthorized, apiErr.Code)
	require.Equal(t, []string{"setWebhook:ok", "getWebhookInfo:ok", "getUpdates:api_error"}, o.got)
}

func TestGetUpdatesReturnsTheUpdatesAsSent(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	c := newClient(t, sb.URL(), nil)
	// Key order and escapes as Telegram might send them; the gateway must
	// pass on exactly these bytes.
	raw := `{"message":{"message_id":1,"chat":{"id":7,"type":"private"},"text":"caf\u00e9"},"update_id":500}`
	sb.Enqueue(7, json.RawMessage(raw))
	sb.SendText(8, "second")

	updates, err := c.GetUpdates(context.Background(), botapi.GetUpdatesParams{Timeout: 1, AllowedUpdates: []string{"message"}})
	require.NoError(t, err)
	require.Len(t, updates, 2)
	require.Equal(t, raw, string(updates[0]))

	require.NoError(t, c.DeleteWebhook(context.Background(), false))
	_, err = c.GetUpdates(context.Background(), botapi.GetUpdatesParams{Offset: 502, Timeout: 0})
	require.NoError(t, err)
	require.Zero(t, sb.Stats().Pending, "offset confirms what came before it")
}
