package telegram_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const token = "123456:TEST"

// env is a started sandbox and an HTTP client of the test's own, so idle
// connections are closed with the test.
type env struct {
	t      *testing.T
	s      *telegram.Server
	client *http.Client
}

// start serves a sandbox for one test. Flood limits are off unless cfg sets
// them, so tests that are not about limits can send freely.
func start(t *testing.T, cfg telegram.Config) *env {
	t.Helper()
	cfg.Token = token
	if cfg.ChatRate == 0 {
		cfg.ChatRate = -1
	}
	if cfg.GlobalRate == 0 {
		cfg.GlobalRate = -1
	}
	if cfg.PaidRate == 0 {
		cfg.PaidRate = -1
	}
	s := telegram.New(cfg)
	require.NoError(t, s.Start("127.0.0.1:0"))
	tr := &http.Transport{}
	t.Cleanup(func() {
		s.Close()
		tr.CloseIdleConnections()
	})
	return &env{t: t, s: s, client: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// bot is a telebot client of the sandbox, as the bot-handler builds it.
func (e *env) bot() *tele.Bot {
	e.t.Helper()
	b, err := tele.NewBot(tele.Settings{URL: e.s.URL(), Token: token, Offline: true, Client: e.client, Synchronous: true})
	require.NoError(e.t, err)
	return b
}

// run long-polls b until the test ends.
func run(t *testing.T, b *tele.Bot) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Start()
	}()
	t.Cleanup(func() {
		b.Stop()
		<-done
	})
}

// answer is a Bot API response.
type answer struct {
	Status      int             `json:"-"`
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

func (e *env) do(req *http.Request) answer {
	e.t.Helper()
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var a answer
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&a))
	a.Status = resp.StatusCode
	return a
}

func (e *env) post(method, contentType string, body io.Reader) answer {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.s.URL()+"/bot"+token+"/"+method, body)
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", contentType)
	return e.do(req)
}

func (e *env) callJSON(method string, params any) answer {
	e.t.Helper()
	data, err := json.Marshal(params)
	require.NoError(e.t, err)
	return e.post(method, "application/json", bytes.NewReader(data))
}

func (e *env) callForm(method string, values url.Values) answer {
	e.t.Helper()
	return e.post(method, "application/x-www-form-urlencoded", strings.NewReader(values.Encode()))
}

// sandbox calls the sandbox control API and returns the status and body.
func (e *env) sandbox(method, path, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.s.URL()+path, strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, data
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(raw, &v), string(raw))
	return v
}

// pngImage is a real PNG of the given size, as a QR code would be.
func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h))))
	return buf.Bytes()
}

// wireUpdate is the part of an update the tests read.
type wireUpdate struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		MessageID int64  `json:"message_id"`
		Text      string `json:"text"`
		Chat      struct {
			ID   int64  `json:"id"`
			Type string `json:"type"`
		} `json:"chat"`
		From struct {
			ID           int64  `json:"id"`
			IsBot        bool   `json:"is_bot"`
			LanguageCode string `json:"language_code"`
		} `json:"from"`
		Entities []struct {
			Type   string `json:"type"`
			Offset int    `json:"offset"`
			Length int    `json:"length"`
		} `json:"entities"`
	} `json:"message"`
	CallbackQuery *struct {
		ID      string `json:"id"`
		Data    string `json:"data"`
		Message struct {
			MessageID int64 `json:"message_id"`
		} `json:"message"`
	} `json:"callback_query"`
}

func (u wireUpdate) chatID() int64 {
	if u.Message != nil {
		return u.Message.Chat.ID
	}
	return 0
}

func (u wireUpdate) text() string {
	if u.Message != nil {
		return u.Message.Text
	}
	return ""
}
