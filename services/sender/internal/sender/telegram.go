package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// APIError is a Bot API call that Telegram answered with an error.
type APIError struct {
	Method      string
	Code        int
	Description string
	// RetryAfter is how long Telegram asks to wait after a 429.
	RetryAfter time.Duration
}

// Error says which call failed and how, as Telegram put it.
func (e *APIError) Error() string {
	return fmt.Sprintf("telegram %s: %s (%d)", e.Method, e.Description, e.Code)
}

// Client sends messages through the Bot API over plain HTTP: the two calls
// the sender needs do not justify a bot framework, and plain HTTP lets it
// read retry_after and the error code of every answer.
type Client struct {
	base  string // <api url>/bot<token>/
	token string
	http  *http.Client
}

// NewClient returns a client for the Bot API at apiURL (e.g.
// https://api.telegram.org) with the bot's token.
func NewClient(apiURL, token string) *Client {
	return &Client{
		base:  strings.TrimRight(apiURL, "/") + "/bot" + token + "/",
		token: token,
		http:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
}

// CloseIdle closes the client's idle connections.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

type inlineButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
}

type replyMarkup struct {
	InlineKeyboard [][]inlineButton `json:"inline_keyboard"`
}

// method is the Bot API method that sends m.
func method(m *vpnbotv1.SendMessage) string {
	if len(m.GetPhoto()) > 0 || m.GetPhotoUrl() != "" {
		return "sendPhoto"
	}
	return "sendMessage"
}

// Send sends m and returns the id Telegram gave the message. A refusal is an
// *APIError; anything else (no answer, a body that is not the Bot API's) is
// a transport error worth retrying.
func (c *Client) Send(ctx context.Context, m *vpnbotv1.SendMessage) (int64, error) {
	params := map[string]any{"chat_id": m.GetChatId()}
	if m.GetParseMode() != "" {
		params["parse_mode"] = m.GetParseMode()
	}
	if rows := m.GetRows(); len(rows) > 0 {
		kb := replyMarkup{InlineKeyboard: make([][]inlineButton, 0, len(rows))}
		for _, r := range rows {
			row := make([]inlineButton, 0, len(r.GetButtons()))
			for _, b := range r.GetButtons() {
				row = append(row, inlineButton{Text: b.GetText(), CallbackData: b.GetCallbackData(), URL: b.GetUrl()})
			}
			kb.InlineKeyboard = append(kb.InlineKeyboard, row)
		}
		params["reply_markup"] = kb
	}
	name := method(m)
	switch {
	case name == "sendMessage":
		params["text"] = m.GetText()
	case m.GetText() != "":
		params["caption"] = m.GetText()
	}
	var (
		body        io.Reader
		contentType string
		err         error
	)
	if len(m.GetPhoto()) > 0 {
		body, contentType, err = multipartBody(params, m.GetPhoto())
	} else {
		if m.GetPhotoUrl() != "" {
			params["photo"] = m.GetPhotoUrl()
		}
		body, contentType, err = jsonBody(params)
	}
	if err != nil {
		return 0, fmt.Errorf("encoding %s: %w", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+name, body)
	if err != nil {
		return 0, fmt.Errorf("telegram %s: %w", name, c.redact(err))
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("telegram %s: %w", name, c.redact(err))
	}
	defer resp.Body.Close()
	return readAnswer(name, resp)
}

func jsonBody(params map[string]any) (io.Reader, string, error) {
	data, err := json.Marshal(params)
	if err != nil {
		return nil, "", err
	}
	return bytes.NewReader(data), "application/json", nil
}

// multipartBody uploads photo with the other parameters as form fields
// (objects such as reply_markup as JSON text, as the Bot API wants them).
func multipartBody(params map[string]any, photo []byte) (io.Reader, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range params {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		default:
			data, err := json.Marshal(v)
			if err != nil {
				return nil, "", err
			}
			s = string(data)
		}
		if err := w.WriteField(k, s); err != nil {
			return nil, "", err
		}
	}
	part, err := w.CreateFormFile("photo", "photo")
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(photo); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return &buf, w.FormDataContentType(), nil
}

// readAnswer decodes the Bot API's answer: the message id, or an *APIError
// with Telegram's code, description and retry_after. An error status whose
// body is not the Bot API's (a proxy's error page) still yields its status.
func readAnswer(method string, resp *http.Response) (int64, error) {
	var body struct {
		OK          bool   `json:"ok"`
		Code        int    `json:"error_code"`
		Description string `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
		Result struct {
			MessageID int64 `json:"message_id"`
		} `json:"result"`
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("telegram %s: reading the answer: %w", method, err)
	}
	decodeErr := json.Unmarshal(data, &body)
	if resp.StatusCode == http.StatusOK && decodeErr == nil && body.OK {
		return body.Result.MessageID, nil
	}
	if resp.StatusCode < 300 {
		return 0, fmt.Errorf("telegram %s: unreadable answer (status %d)", method, resp.StatusCode)
	}
	e := &APIError{
		Method:      method,
		Code:        resp.StatusCode,
		Description: body.Description,
		RetryAfter:  time.Duration(body.Parameters.RetryAfter) * time.Second,
	}
	if e.Description == "" {
		e.Description = http.StatusText(resp.StatusCode)
	}
	return 0, e
}

// redact hides the bot token, which net/http quotes in its errors as part of
// the request URL, keeping the cause for errors.Is and errors.As.
func (c *Client) redact(err error) error {
	if c.token == "" || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return redacted{err: err, token: c.token}
}

type redacted struct {
	err   error
	token string
}

func (r redacted) Error() string { return strings.ReplaceAll(r.err.Error(), r.token, "<token>") }
func (r redacted) Unwrap() error { return r.err }

// apiError returns err's *APIError, if it is one.
func apiError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)
	return e, ok
}
