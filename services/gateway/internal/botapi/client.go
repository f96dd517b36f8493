package botapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxResponseBytes bounds a Bot API answer; a getUpdates batch of 100 large
// updates stays far below it.
const maxResponseBytes = 32 << 20

// ObserveFunc is told the outcome ("ok", "api_error", "bad_answer" or
// "transport_error")
// and duration of every call, for metrics.
type ObserveFunc func(method, outcome string, d time.Duration)

// Client calls the Bot API of one bot.
type Client struct {
	base    string // <api url>/bot<token>/ — never logged
	http    *http.Client
	observe ObserveFunc
}

// New returns a client for the bot with token at apiURL (e.g.
// https://api.telegram.org). hc carries no timeout of its own: each call is
// bounded by its context. observe may be nil.
func New(apiURL, token string, hc *http.Client, observe ObserveFunc) *Client {
	if observe == nil {
		observe = func(string, string, time.Duration) {}
	}
	return &Client{
		base:    strings.TrimRight(apiURL, "/") + "/bot" + token + "/",
		http:    hc,
		observe: observe,
	}
}

// APIError is a Bot API answer with "ok": false.
type APIError struct {
	Method      string
	Code        int    // error_code, an HTTP status such as 400, 401, 409 or 429
	Description string // Telegram's description, e.g. "Conflict: terminated by other getUpdates request"
	RetryAfter  int    // seconds to wait, set with 429
}

func (e *APIError) Error() string {
	return fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
}

type response struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// call posts params as JSON to method and decodes the result into result
// (when not nil).
func (c *Client) call(ctx context.Context, method string, params, result any) error {
	start := time.Now()
	outcome := "transport_error"
	defer func() { c.observe(method, outcome, time.Since(start)) }()

	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("encoding telegram %s parameters: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("telegram %s: %w", method, scrub(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling telegram %s: %w", method, scrub(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("reading telegram %s answer: %w", method, scrub(err))
	}
	outcome = "bad_answer"
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("telegram %s answered HTTP %d with %d bytes that are not a Bot API answer", method, resp.StatusCode, len(raw))
	}
	if !r.OK {
		outcome = "api_error"
		code := r.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		return &APIError{Method: method, Code: code, Description: r.Description, RetryAfter: r.Parameters.RetryAfter}
	}
	if result != nil {
		if err := json.Unmarshal(r.Result, result); err != nil {
			return fmt.Errorf("decoding telegram %s result: %w", method, err)
		}
	}
	outcome = "ok"
	return nil
}

// scrub drops the *url.Error around a transport error: it quotes the URL,
// and with it the token. What it wraps (a dial, TLS or context error) never
// mentions the URL.
func scrub(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
