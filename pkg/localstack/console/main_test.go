package console_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/localstack/console"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const token = "123456:TEST"

// env is the web app over a real sandbox Telegram, both served for one
// test. The test plays the bot through the sandbox's Bot API.
type env struct {
	t      *testing.T
	tg     *sandboxtg.Server
	botAPI string // the sandbox's base URL
	app    *console.Server
	url    string // the web app's base URL
	client *http.Client
}

// start serves the web app for cfg; cfg.Telegram is the sandbox it makes.
func start(t *testing.T, cfg console.Config) *env {
	t.Helper()
	tg := sandboxtg.New(sandboxtg.Config{Token: token, GlobalRate: -1, ChatRate: -1, PreCheckoutTimeout: 5 * time.Second})
	botAPI := httptest.NewServer(tg.Handler())
	cfg.Telegram = tg
	app, err := console.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(app.Handler())
	tr := &http.Transport{}
	t.Cleanup(func() {
		srv.Close()
		app.Close()
		botAPI.Close()
		tg.Close()
		tr.CloseIdleConnections()
	})
	return &env{t: t, tg: tg, botAPI: botAPI.URL, app: app, url: srv.URL, client: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// do calls the web app and returns the status and body.
func (e *env) do(method, path, body string) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, r)
	require.NoError(e.t, err)
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, out
}

// bot calls a Bot API method of the sandbox with a JSON body, as the bot
// would, and returns the result.
func (e *env) bot(method string, params map[string]any) json.RawMessage {
	e.t.Helper()
	result, err := e.call(method, params)
	require.NoError(e.t, err)
	return result
}

// call is bot for goroutines other than the test's, which must not stop
// the test: it returns what went wrong.
func (e *env) call(method string, params map[string]any) (json.RawMessage, error) {
	body, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Post(e.botAPI+"/bot"+token+"/"+method, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var a struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		Description string          `json:"description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if !a.OK {
		return nil, fmt.Errorf("%s: %s", method, a.Description)
	}
	return a.Result, nil
}

// botStatus calls a Bot API method and returns only the HTTP status.
func (e *env) botStatus(method string, params map[string]any) int {
	e.t.Helper()
	body, err := json.Marshal(params)
	require.NoError(e.t, err)
	resp, err := e.client.Post(e.botAPI+"/bot"+token+"/"+method, "application/json", bytes.NewReader(body))
	require.NoError(e.t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// sendPhoto uploads a photo as the bot does with the key's QR code.
func (e *env) sendPhoto(chatID int64, photo []byte, caption string) int64 {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(e.t, mw.WriteField("chat_id", strconv.FormatInt(chatID, 10)))
	require.NoError(e.t, mw.WriteField("caption", caption))
	fw, err := mw.CreateFormFile("photo", "qr.png")
	require.NoError(e.t, err)
	_, err = fw.Write(photo)
	require.NoError(e.t, err)
	require.NoError(e.t, mw.Close())
	resp, err := e.client.Post(e.botAPI+"/bot"+token+"/sendPhoto", mw.FormDataContentType(), &buf)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var a struct {
		OK     bool `json:"ok"`
		Result struct {
			MessageID int64 `json:"message_id"`
		} `json:"result"`
		Description string `json:"description"`
	}
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&a))
	require.True(e.t, a.OK, "sendPhoto: %s", a.Description)
	return a.Result.MessageID
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), "body: %s", b)
	return v
}

// pngSquare is a small PNG, like a QR code.
func pngSquare(t *testing.T) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 21, 21))
	for i := range 21 {
		img.Set(i, i, color.White)
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}
