package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/tracing"
)

const (
	// maxAnswerBytes bounds a Bot API answer; a getUpdates batch of 100
	// large updates stays far below it.
	maxAnswerBytes = 32 << 20
	// maxIdlePerHost keeps a connection per partition or send in flight,
	// instead of opening one per request.
	maxIdlePerHost = 100
)

// Outcomes of a Bot API request besides the error code of a refusal (the
// outcome label of vpnbot_telegram_requests_total).
const (
	OutcomeOK             = "ok"
	OutcomeTransportError = "transport_error" // no answer: the request may or may not have been done
	OutcomeBadAnswer      = "bad_answer"      // an answer that is not the Bot API's
)

// Error is a Bot API call that Telegram refused: its answer had "ok":
// false, or an error status. It is the one error type of every Telegram
// call in the system.
type Error struct {
	Method      string
	Code        int    // error_code, an HTTP status such as 400, 403 or 429
	Description string // Telegram's words, e.g. "Forbidden: bot was blocked by the user"
	// RetryAfter is how long Telegram asks to wait, with 429.
	RetryAfter time.Duration
}

// Error says which call failed and how, as Telegram put it.
func (e *Error) Error() string {
	return fmt.Sprintf("telegram %s: %s (%d)", e.Method, e.Description, e.Code)
}

// Retryable reports whether the same call may succeed later: flood control
// (after RetryAfter) and Telegram's own failures.
func (e *Error) Retryable() bool {
	return e.Code == http.StatusTooManyRequests || e.Code >= http.StatusInternalServerError
}

// Blocked reports a 403: the user blocked the bot (or deleted their
// account); nothing can be sent to them until they start it again.
func (e *Error) Blocked() bool { return e.Code == http.StatusForbidden }

// NotFound reports a chat, user or message that no longer exists: Telegram
// answers 400 "Bad Request: chat not found", "message to edit not found".
func (e *Error) NotFound() bool {
	return e.Code == http.StatusBadRequest && strings.Contains(strings.ToLower(e.Description), "not found")
}

// AsError returns err's *Error, if it is one.
func AsError(err error) (*Error, bool) {
	return errors.AsType[*Error](err)
}

// Config configures a Client.
type Config struct {
	// APIURL is the Bot API base URL (https://api.telegram.org, or the
	// sandbox's).
	APIURL string
	// Token is the bot's token; it is part of every request URL and never
	// shows in an error.
	Token string
	// Registerer takes the request metrics (nil: not exported).
	Registerer prometheus.Registerer
	// Pacer, when set, paces every sending call by its chat (nil: the
	// client sends at once, as the gateway, which sends no messages, does).
	Pacer Pacer
}

// Client calls the Bot API of one bot over plain HTTP: Call and Upload for
// the gateway and the sender, HTTPClient for telebot in the bot-handler. Every
// request is measured (vpnbot_telegram_requests_total by method and outcome,
// vpnbot_telegram_request_duration_seconds), every refusal is an *Error, and
// no error carries the token. With a Pacer, every sending call, by either
// path, first waits for its chat's turn (vpnbot_telegram_pace_wait_seconds).
type Client struct {
	base         string // <api url>/bot<token>/
	apiURL       string
	token        string
	transport    *http.Transport
	traced       http.RoundTripper // transport, each request a span, the token masked
	http         *http.Client
	pacer        Pacer
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	paceWait     prometheus.Histogram
	paceFailures prometheus.Counter
}

// New returns a client for the bot with cfg.Token at cfg.APIURL.
func New(cfg Config) (*Client, error) {
	if _, err := BotID(cfg.Token); err != nil {
		return nil, err
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_telegram_requests_total",
		Help: "Bot API requests by method and outcome: ok, the error code Telegram answered (403, 429, 5xx…), transport_error or bad_answer.",
	}, []string{"method", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vpnbot_telegram_request_duration_seconds",
		Help:    "Bot API request latency by method.",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25, 60},
	}, []string{"method"})
	paceWait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vpnbot_telegram_pace_wait_seconds",
		Help:    "How long sending calls waited for their chat's turn under the per-chat limit shared by every sending service.",
		Buckets: []float64{0, .05, .1, .25, .5, 1, 2, 5, 10},
	})
	paceFailures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vpnbot_telegram_pace_failures_total",
		Help: "Sending calls made without their chat's turn because the shared per-chat budget could not be read (its database was unreachable).",
	})
	if cfg.Registerer != nil {
		var err error
		if requests, err = obs.Register(cfg.Registerer, requests); err != nil {
			return nil, err
		}
		if duration, err = obs.Register(cfg.Registerer, duration); err != nil {
			return nil, err
		}
		if paceWait, err = obs.Register(cfg.Registerer, paceWait); err != nil {
			return nil, err
		}
		if paceFailures, err = obs.Register(cfg.Registerer, paceFailures); err != nil {
			return nil, err
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = maxIdlePerHost
	traced := tracing.HTTPTransport(tr, "telegram", cfg.Token)
	return &Client{
		base:         strings.TrimRight(cfg.APIURL, "/") + "/bot" + cfg.Token + "/",
		apiURL:       cfg.APIURL,
		token:        cfg.Token,
		transport:    tr,
		traced:       traced,
		http:         &http.Client{Transport: traced},
		pacer:        cfg.Pacer,
		requests:     requests,
		duration:     duration,
		paceWait:     paceWait,
		paceFailures: paceFailures,
	}, nil
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// Call posts params as JSON to method and decodes the answer's result into
// result (when not nil). ctx bounds the call. A refusal is an *Error;
// anything else (no answer, an answer that is not the Bot API's) is a
// transport error worth retrying.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("encoding telegram %s parameters: %w", method, err)
	}
	return c.post(ctx, method, "application/json", bytes.NewReader(body), result)
}

// Upload posts params with a file as multipart form data, as the Bot API
// takes a photo: objects among params (reply_markup) go as JSON text.
func (c *Client) Upload(ctx context.Context, method string, params map[string]any, field string, file []byte, result any) error {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range params {
		s, ok := v.(string)
		if !ok {
			data, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("encoding telegram %s parameter %s: %w", method, k, err)
			}
			s = string(data)
		}
		if err := w.WriteField(k, s); err != nil {
			return fmt.Errorf("encoding telegram %s: %w", method, err)
		}
	}
	part, err := w.CreateFormFile(field, field)
	if err == nil {
		_, err = part.Write(file)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return fmt.Errorf("encoding telegram %s: %w", method, err)
	}
	return c.post(ctx, method, w.FormDataContentType(), &buf, result)
}

// answer is the Bot API's envelope.
type answer struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

func (c *Client) post(ctx context.Context, method, contentType string, body io.Reader, result any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+method, body)
	if err != nil {
		return fmt.Errorf("telegram %s: %w", method, c.Redact(unwrapURL(err)))
	}
	req.Header.Set("Content-Type", contentType)
	if err := c.pace(ctx, method, req); err != nil {
		return err
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe(method, OutcomeTransportError, start)
		return fmt.Errorf("calling telegram %s: %w", method, c.Redact(unwrapURL(err)))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		c.observe(method, OutcomeTransportError, start)
		return fmt.Errorf("reading telegram %s answer: %w", method, c.Redact(err))
	}
	var a answer
	decodeErr := json.Unmarshal(raw, &a)
	switch {
	case decodeErr == nil && a.OK && resp.StatusCode < 300:
	case resp.StatusCode >= 300 || decodeErr == nil && !a.OK:
		// An error status whose body is not the Bot API's (a proxy's error
		// page) still yields its status.
		e := refusal(method, resp.StatusCode, a)
		c.observe(method, strconv.Itoa(e.Code), start)
		return e
	default:
		c.observe(method, OutcomeBadAnswer, start)
		return fmt.Errorf("telegram %s answered HTTP %d with %d bytes that are not a Bot API answer", method, resp.StatusCode, len(raw))
	}
	if result != nil {
		if err := json.Unmarshal(a.Result, result); err != nil {
			c.observe(method, OutcomeBadAnswer, start)
			return fmt.Errorf("decoding telegram %s result: %w", method, err)
		}
	}
	c.observe(method, OutcomeOK, start)
	return nil
}

// refusal is the *Error of an answer with "ok": false or an error status.
func refusal(method string, status int, a answer) *Error {
	code := a.ErrorCode
	if code == 0 {
		code = status
	}
	e := &Error{
		Method:      method,
		Code:        code,
		Description: a.Description,
		RetryAfter:  time.Duration(a.Parameters.RetryAfter) * time.Second,
	}
	if e.Description == "" {
		e.Description = http.StatusText(code)
	}
	return e
}

func (c *Client) observe(method, outcome string, start time.Time) {
	c.requests.WithLabelValues(method, outcome).Inc()
	c.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

// Endpoint is the Bot API base URL and the token the client was made with,
// for a library that builds its own request URLs (telebot) over HTTPClient.
func (c *Client) Endpoint() (apiURL, token string) { return c.apiURL, c.token }

// HTTPClient returns an HTTP client for a Bot API library (telebot): every
// request it sends carries ctx (telebot has no per-request context, so an
// update's deadline reaches its calls this way), is paced and measured like
// Call's, and an error answer becomes an *Error. Pass its errors through
// Redact.
func (c *Client) HTTPClient(ctx context.Context) *http.Client {
	return &http.Client{Transport: ctxTransport{ctx: ctx, c: c}}
}

type ctxTransport struct {
	ctx context.Context
	c   *Client
}

// RoundTrip sends req under the transport's context.
func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	method := path.Base(req.URL.Path)
	req = req.WithContext(t.ctx)
	if err := t.c.pace(t.ctx, method, req); err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := t.c.traced.RoundTrip(req)
	if err != nil {
		t.c.observe(method, OutcomeTransportError, start)
		return nil, t.c.Redact(err)
	}
	if resp.StatusCode < 300 {
		t.c.observe(method, OutcomeOK, start)
		return resp, nil
	}
	defer resp.Body.Close()
	var a answer
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	_ = json.Unmarshal(raw, &a)
	e := refusal(method, resp.StatusCode, a)
	t.c.observe(method, strconv.Itoa(e.Code), start)
	return nil, e
}

// Redact hides the bot token in err's text (net/http quotes the request
// URL, which holds the token, in its errors), keeping err's chain for
// errors.Is and errors.As.
func (c *Client) Redact(err error) error {
	if err == nil || !strings.Contains(err.Error(), c.token) {
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

// unwrapURL drops the *url.Error around a transport error: it quotes the
// URL, and with it the token; what it wraps (a dial, TLS or context error)
// tells what went wrong.
func unwrapURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
