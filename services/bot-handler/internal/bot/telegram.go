package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrRejected marks an update that retrying cannot help: Telegram refused
// what the handler sent (a 4xx other than 429), or the handler panicked.
var ErrRejected = errors.New("update rejected")

// APIError is a Bot API call that Telegram answered with an error status.
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

// Retryable reports whether the same call may succeed later: flood control
// and Telegram's own failures.
func (e *APIError) Retryable() bool {
	return e.Code == http.StatusTooManyRequests || e.Code >= http.StatusInternalServerError
}

// apiMetrics watch the Bot API from this side: latency, and answers by code
// (429s and 403s included), per method.
type apiMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newAPIMetrics(reg prometheus.Registerer) (*apiMetrics, error) {
	m := &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_bot_telegram_requests_total",
			Help: "Bot API requests by method and HTTP status (\"error\" when no answer came).",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vpnbot_bot_telegram_request_duration_seconds",
			Help:    "Bot API request latency by method.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25},
		}, []string{"method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the Bot API metrics: %w", err)
		}
	}
	return m, nil
}

// transport carries one update's context into every Bot API request that
// telebot makes for it (telebot itself has no per-request context), and turns
// error answers into *APIError.
type transport struct {
	ctx     context.Context
	next    http.RoundTripper
	metrics *apiMetrics
}

// RoundTrip sends req under the update's context.
func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	method := path.Base(req.URL.Path)
	start := time.Now()
	resp, err := t.next.RoundTrip(req.WithContext(t.ctx))
	t.metrics.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	if err != nil {
		t.metrics.requests.WithLabelValues(method, "error").Inc()
		return nil, err
	}
	t.metrics.requests.WithLabelValues(method, strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readAPIError(method, resp)
}

// readAPIError decodes Telegram's error answer; a body that is not one (a
// proxy's error page) still yields the status.
func readAPIError(method string, resp *http.Response) *APIError {
	var body struct {
		Code        int    `json:"error_code"`
		Description string `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(data, &body)
	e := &APIError{
		Method:      method,
		Code:        resp.StatusCode,
		Description: body.Description,
		RetryAfter:  time.Duration(body.Parameters.RetryAfter) * time.Second,
	}
	if e.Description == "" {
		e.Description = http.StatusText(resp.StatusCode)
	}
	return e
}

// redacted hides the bot token in an error's text: net/http quotes the
// request URL, which holds the token, in its errors. Unwrap keeps the cause
// for errors.Is and errors.As.
type redacted struct {
	err   error
	token string
}

func (r redacted) Error() string { return strings.ReplaceAll(r.err.Error(), r.token, "<token>") }
func (r redacted) Unwrap() error { return r.err }

func redact(err error, token string) error {
	if err == nil || token == "" {
		return err
	}
	return redacted{err: err, token: token}
}
