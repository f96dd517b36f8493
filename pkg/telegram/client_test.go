package telegram_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

const token = "987654:SECRET-bot-token"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newClient(t *testing.T, url string, reg prometheus.Registerer) *telegram.Client {
	t.Helper()
	c, err := telegram.New(telegram.Config{APIURL: url, Token: token, Registerer: reg})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func startSandbox(t *testing.T) *sandboxtg.Server {
	t.Helper()
	sb := sandboxtg.New(sandboxtg.Config{Token: token, Log: zerolog.Nop(), GlobalRate: -1, ChatRate: -1})
	require.NoError(t, sb.Start("127.0.0.1:0"))
	t.Cleanup(sb.Close)
	return sb
}

// requests is vpnbot_telegram_requests_total{method, outcome}.
func requests(t *testing.T, reg *prometheus.Registry, method, outcome string) float64 {
	t.Helper()
	v, _ := obstest.Metric(t, reg, "vpnbot_telegram_requests_total", map[string]string{"method": method, "outcome": outcome})
	return v
}

func TestNewRefusesAMalformedTokenWithoutQuotingIt(t *testing.T) {
	t.Parallel()
	_, err := telegram.New(telegram.Config{APIURL: "http://127.0.0.1:1", Token: "no-colon-secret"})
	require.ErrorIs(t, err, telegram.ErrMalformedToken)
	require.NotContains(t, err.Error(), "no-colon-secret")
}

func TestTransportErrorsNeverShowTheToken(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	_, err := newClient(t, "http://127.0.0.1:1", reg).GetWebhookInfo(context.Background())
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
	_, err = newClient(t, "http://"+ln.Addr().String(), reg).GetUpdates(ctx, telegram.GetUpdatesParams{Timeout: 25})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotContains(t, err.Error(), token)
	for c := range conns {
		require.NoError(t, c.Close())
	}
	require.EqualValues(t, 1, requests(t, reg, "getWebhookInfo", telegram.OutcomeTransportError))
	require.EqualValues(t, 1, requests(t, reg, "getUpdates", telegram.OutcomeTransportError))
}

func TestRefusalsCarryTelegramsCodeAndDescription(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	reg := prometheus.NewRegistry()
	c := newClient(t, sb.URL(), reg)
	require.NoError(t, c.SetWebhook(context.Background(), telegram.SetWebhookParams{
		URL: "http://127.0.0.1:1/hook", SecretToken: "abc", AllowedUpdates: []string{"message"}, MaxConnections: 5,
	}))
	info, err := c.GetWebhookInfo(context.Background())
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:1/hook", info.URL)
	require.Equal(t, 5, info.MaxConnections)
	require.Equal(t, []string{"message"}, info.AllowedUpdates)

	_, err = c.GetUpdates(context.Background(), telegram.GetUpdatesParams{})
	apiErr, ok := telegram.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, http.StatusConflict, apiErr.Code)
	require.Contains(t, apiErr.Description, "webhook is active")
	require.False(t, apiErr.Retryable())

	wrong, err := telegram.New(telegram.Config{APIURL: sb.URL(), Token: "987654:wrong"})
	require.NoError(t, err)
	t.Cleanup(wrong.Close)
	_, err = wrong.GetWebhookInfo(context.Background())
	apiErr, ok = telegram.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, http.StatusUnauthorized, apiErr.Code)

	require.EqualValues(t, 1, requests(t, reg, "setWebhook", telegram.OutcomeOK))
	require.EqualValues(t, 1, requests(t, reg, "getWebhookInfo", telegram.OutcomeOK))
	require.EqualValues(t, 1, requests(t, reg, "getUpdates", "409"))
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

	updates, err := c.GetUpdates(context.Background(), telegram.GetUpdatesParams{Timeout: 1, AllowedUpdates: []string{"message"}})
	require.NoError(t, err)
	require.Len(t, updates, 2)
	require.Equal(t, raw, string(updates[0]))

	require.NoError(t, c.DeleteWebhook(context.Background(), false))
	_, err = c.GetUpdates(context.Background(), telegram.GetUpdatesParams{Offset: 502, Timeout: 0})
	require.NoError(t, err)
	require.Zero(t, sb.Stats().Pending, "offset confirms what came before it")

	apiURL, tok := c.Endpoint()
	require.Equal(t, sb.URL(), apiURL)
	require.Equal(t, token, tok, "telebot builds its URLs from the client's endpoint")

	me, err := c.GetMe(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 987654, me.ID)
	require.True(t, me.IsBot)
}

func TestErrorsTellFloodBlockedAndNotFoundApart(t *testing.T) {
	t.Parallel()
	answers := map[string]string{
		"sendMessage":     `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`,
		"sendPhoto":       `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`,
		"editMessageText": `{"ok":false,"error_code":400,"description":"Bad Request: message to edit not found"}`,
		"getChat":         `<html>502 Bad Gateway</html>`,
		"getMe":           `{"ok":true,"result":{"id":987654,"is_bot":true}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.URL.Path[len("/bot"+token+"/"):]
		switch {
		case method == "getMe":
		case method == "getChat":
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.WriteHeader(http.StatusBadRequest) // Telegram's status is not always the error code
		}
		_, _ = w.Write([]byte(answers[method]))
	}))
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	c := newClient(t, srv.URL, reg)
	call := func(method string) *telegram.Error {
		err := c.Call(context.Background(), method, map[string]any{"chat_id": 1}, nil)
		e, ok := telegram.AsError(err)
		require.True(t, ok, "%s: %v", method, err)
		require.NotContains(t, err.Error(), token)
		return e
	}
	flood := call("sendMessage")
	require.Equal(t, 429, flood.Code)
	require.Equal(t, 7*time.Second, flood.RetryAfter)
	require.True(t, flood.Retryable())
	require.True(t, call("sendPhoto").Blocked())
	require.True(t, call("editMessageText").NotFound())
	proxy := call("getChat")
	require.Equal(t, http.StatusBadGateway, proxy.Code)
	require.Equal(t, "Bad Gateway", proxy.Description)
	require.True(t, proxy.Retryable())
	require.EqualValues(t, 1, requests(t, reg, "sendMessage", "429"))
	require.EqualValues(t, 1, requests(t, reg, "sendPhoto", "403"))

	// The same through telebot's door: an HTTP client whose requests carry
	// the caller's context and whose refusals are *Error.
	hc := c.HTTPClient(context.Background())
	resp, err := hc.Post(srv.URL+"/bot"+token+"/sendMessage", "application/json", nil)
	if resp != nil {
		_ = resp.Body.Close()
	}
	e, ok := telegram.AsError(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, 429, e.Code)
	require.NotContains(t, c.Redact(err).Error(), token, "a transport error quoting the URL is redacted")
	require.EqualValues(t, 2, requests(t, reg, "sendMessage", "429"))
	resp, err = hc.Post(srv.URL+"/bot"+token+"/getMe", "application/json", nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.EqualValues(t, 1, requests(t, reg, "getMe", telegram.OutcomeOK))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.HTTPClient(ctx).Post(srv.URL+"/bot"+token+"/getMe", "application/json", nil)
	require.ErrorIs(t, err, context.Canceled, "the context reaches the request")
	require.NotContains(t, c.Redact(err).Error(), token)
	require.False(t, errors.Is(c.Redact(nil), context.Canceled))
}

func TestUploadSendsAPhotoWithItsParameters(t *testing.T) {
	t.Parallel()
	var got struct {
		caption, markup string
		photo           []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseMultipartForm(1<<20))
		got.caption = r.FormValue("caption")
		got.markup = r.FormValue("reply_markup")
		f, _, err := r.FormFile("photo")
		require.NoError(t, err)
		got.photo = make([]byte, 4)
		_, _ = f.Read(got.photo)
		_, _ = w.Write([]byte(`{"ok":true,"result":{"message_id":42}}`))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, nil)
	var msg struct {
		MessageID int64 `json:"message_id"`
	}
	err := c.Upload(context.Background(), "sendPhoto", map[string]any{
		"chat_id": "7", "caption": "your key",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "Menu", "callback_data": "menu"}}}},
	}, "photo", []byte("\x89PNG"), &msg)
	require.NoError(t, err)
	require.EqualValues(t, 42, msg.MessageID)
	require.Equal(t, "your key", got.caption)
	require.JSONEq(t, `{"inline_keyboard":[[{"text":"Menu","callback_data":"menu"}]]}`, got.markup)
	require.Equal(t, []byte("\x89PNG"), got.photo)
}
