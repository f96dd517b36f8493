package cryptopay

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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbot/vpnbot/pkg/tracing"
)

// DefaultBaseURL is the mainnet Crypto Pay API; the testnet one is
// https://testnet-pay.crypt.bot.
const DefaultBaseURL = "https://pay.crypt.bot"

// TokenHeader carries the API token on every call.
const TokenHeader = "Crypto-Pay-API-Token"

const (
	defaultTimeout = 10 * time.Second
	// maxAnswerBytes bounds what one answer may hold: 1,000 invoices of at
	// most ~5 KiB each (a 4 KiB payload plus the rest) fit with room to spare.
	maxAnswerBytes = 16 << 20
)

// ErrUnavailable means Crypto Pay could not be reached or did not answer in
// time, or answered 5xx or 429: the call may be retried later unchanged.
// Errors wrapping it often wrap the cause too (a *url.Error, context.DeadlineExceeded).
var ErrUnavailable = errors.New("crypto pay unavailable")

// APIError is Crypto Pay refusing a call: {"ok":false,"error":{"code":401,
// "name":"UNAUTHORIZED"}}. Name is what to branch on (UNAUTHORIZED,
// INVOICE_NOT_FOUND, ...). An APIError with a 5xx or 429 code also matches
// ErrUnavailable.
type APIError struct {
	Code int    // the error's code, in practice the HTTP status
	Name string // e.g. "UNAUTHORIZED"
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("crypto pay refused the call: %d %s", e.Code, e.Name)
}

// Is lets errors.Is(err, ErrUnavailable) hold for Crypto Pay's own 5xx and
// 429 answers, which are as transient as a dropped connection.
func (e *APIError) Is(target error) bool {
	return target == ErrUnavailable && transientStatus(e.Code)
}

func transientStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests
}

// Config sets up a Client. Zero values take the defaults documented on each field.
type Config struct {
	// BaseURL is the API's scheme and host (default DefaultBaseURL); methods
	// are called at BaseURL + "/api/<method>".
	BaseURL string
	// Token is the app's API token from @CryptoBot's Crypto Pay menu (required).
	Token string
	// Timeout bounds each call, connection and answer included (default 10s).
	Timeout time.Duration
	// HTTPClient makes the calls (default: a client on http.DefaultTransport,
	// each call a span).
	HTTPClient *http.Client
	// Registerer, when set, receives the client's metrics
	// (vpnbot_cryptopay_requests_total, vpnbot_cryptopay_request_duration_seconds).
	Registerer prometheus.Registerer
}

// Client calls the Crypto Pay API. It is safe for concurrent use.
type Client struct {
	base    string
	token   string
	timeout time.Duration
	http    *http.Client
	metrics *metrics
}

// New checks cfg and returns a client. It makes no call.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, errors.New("creating crypto pay client: no API token")
	}
	// A header value cannot hold control characters; refusing them here keeps
	// net/http from failing on every call later.
	if strings.ContainsFunc(cfg.Token, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return nil, errors.New("creating crypto pay client: the API token holds control characters")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("creating crypto pay client: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: tracing.HTTPTransport(http.DefaultTransport, "cryptopay")}
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("creating crypto pay client: %w", err)
	}
	return &Client{
		base:    strings.TrimRight(cfg.BaseURL, "/"),
		token:   cfg.Token,
		timeout: cfg.Timeout,
		http:    cfg.HTTPClient,
		metrics: m,
	}, nil
}

// envelope is every answer of the API.
type envelope struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code int    `json:"code"`
		Name string `json:"name"`
	} `json:"error"`
}

// call POSTs params as JSON to /api/<method> and decodes the result into out.
func (c *Client) call(ctx context.Context, method string, params, out any) (err error) {
	began := time.Now()
	defer func() { c.metrics.observe(method, began, err) }()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("encoding %s parameters: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/"+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building %s request: %w", method, err)
	}
	req.Header.Set(TokenHeader, c.token)
	req.Header.Set("Content-Type", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		// A *url.Error names the URL and the cause; the token is in a header,
		// never in the URL, so it cannot leak here.
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return fmt.Errorf("%w: reading the answer: %w", ErrUnavailable, err)
	}
	if len(data) > maxAnswerBytes {
		return fmt.Errorf("answer to %s is larger than %d bytes", method, maxAnswerBytes)
	}

	var env envelope
	decodeErr := json.Unmarshal(data, &env)
	switch {
	case decodeErr == nil && !env.OK && env.Error != nil:
		return &APIError{Code: env.Error.Code, Name: env.Error.Name}
	case transientStatus(resp.StatusCode):
		// Proxies in front of the API answer 502/504 with HTML, not an envelope.
		return fmt.Errorf("%w: HTTP %d", ErrUnavailable, resp.StatusCode)
	case decodeErr != nil:
		return fmt.Errorf("answer to %s (HTTP %d) is not a Crypto Pay envelope: %w", method, resp.StatusCode, decodeErr)
	case !env.OK:
		return fmt.Errorf("answer to %s (HTTP %d) is not ok and names no error", method, resp.StatusCode)
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("decoding the result of %s: %w", method, err)
	}
	return nil
}
