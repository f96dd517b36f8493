package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

const (
	// SecretHeader carries the secret_token given to setWebhook.
	SecretHeader = "X-Telegram-Bot-Api-Secret-Token"
	// MaxBodyBytes bounds an update; real ones are a few kilobytes.
	MaxBodyBytes = 1 << 20
	// bodyReadTimeout bounds reading one body, so a client that trickles
	// bytes cannot hold a connection (Telegram sends a body at once).
	bodyReadTimeout = 30 * time.Second
	// retryAfter is the Retry-After of a 503, in seconds: a broker outage
	// is usually over in seconds, and Telegram backs off on its own anyway.
	retryAfter = "1"
)

// webhook is the HTTP handler of POST /telegram/webhook.
type webhook struct {
	// secret is the SHA-256 of the configured secret: comparing digests of
	// equal length keeps the comparison constant-time whatever the length of
	// what a client sends.
	secret    [sha256.Size]byte
	hasSecret bool
	pub       *publisher
	traffic   *traffic
	m         *metrics
	// log is sampled: a flood of bad requests must not become a flood of logs.
	log zerolog.Logger
}

func newWebhook(secret string, pub *publisher, tr *traffic, m *metrics, log zerolog.Logger) *webhook {
	return &webhook{
		secret:    sha256.Sum256([]byte(secret)),
		hasSecret: secret != "",
		pub:       pub,
		traffic:   tr,
		m:         m,
		log:       log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second}),
	}
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Stamped before anything can fail: a request with a wrong secret still
	// proves that Telegram (or someone) reaches us, which is what the
	// watchdog and on-call want to know.
	start := h.traffic.stamp()
	status := h.serve(w, r)
	h.m.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	obs.Observe(r.Context(), h.m.requestDuration, time.Since(start).Seconds())
}

// serve answers the request and returns the status it answered with.
func (h *webhook) serve(w http.ResponseWriter, r *http.Request) int {
	if reason := h.authorize(r); reason != "" {
		return h.reject(w, r, http.StatusUnauthorized, reason, nil)
	}
	// Not every ResponseWriter supports deadlines (a test recorder does not);
	// without one the request still works, only unbounded in time.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			return h.reject(w, r, http.StatusRequestEntityTooLarge, "body_too_large", nil)
		}
		return h.reject(w, r, http.StatusBadRequest, "unreadable_body", err)
	}
	// The whole update is decoded, as the bot-handler will decode it, so
	// that what is stored is what the handler can decode: only the ids are
	// kept.
	_, meta, err := telegram.DecodeUpdate(body)
	if err != nil {
		return h.reject(w, r, http.StatusBadRequest, invalidReason(err), err)
	}
	subject, duplicate, err := h.pub.publish(r.Context(), body, meta, ModeWebhook)
	if err != nil {
		h.log.Error().Ctx(r.Context()).Str("event", EventPublishFailed).Err(err).
			Int64("update_id", meta.UpdateID).Str("subject", subject).
			Msg("could not store the update; answering 503 so that Telegram retries")
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, "update not stored, retry", http.StatusServiceUnavailable)
		return http.StatusServiceUnavailable
	}
	h.log.Debug().Ctx(r.Context()).Str("event", EventUpdatePublished).Int64("update_id", meta.UpdateID).
		Str("subject", subject).Bool("duplicate", duplicate).Msg("update stored")
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// authorize returns why the request's secret header is refused, or "".
func (h *webhook) authorize(r *http.Request) string {
	got, present := r.Header[http.CanonicalHeaderKey(SecretHeader)]
	switch {
	case !h.hasSecret:
		return "no_secret_configured"
	case !present || len(got) == 0:
		return "no_secret"
	}
	sum := sha256.Sum256([]byte(got[0]))
	if subtle.ConstantTimeCompare(sum[:], h.secret[:]) != 1 {
		return "bad_secret"
	}
	return ""
}

// invalidReasons name, in logs and in the answer, why a body is not a valid
// update.
var invalidReasons = []struct {
	err    error
	reason string
}{
	{telegram.ErrInvalidUTF8, "invalid_utf8"},
	{telegram.ErrDuplicateKey, "duplicate_key"},
	{telegram.ErrTooDeep, "too_deep"},
	{telegram.ErrNoUpdateID, "no_update_id"},
	{telegram.ErrBadID, "bad_id"},
	{telegram.ErrUndecodable, "undecodable"},
}

// invalidReason is the reason of telegram.DecodeUpdate's err.
func invalidReason(err error) string {
	for _, r := range invalidReasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "not_json"
}

// reject answers status and logs why, with what identifies the caller but
// never the body or the secret. A body refused as an update is answered
// with why (the reason and where in the body), since the caller passed the
// secret check; a refused caller learns only the status.
func (h *webhook) reject(w http.ResponseWriter, r *http.Request, status int, reason string, err error) int {
	ev := h.log.Warn().Ctx(r.Context()).Str("event", EventWebhookRejected).Str("reason", reason).Int("status", status).
		Str("remote", r.RemoteAddr).Int64("content_length", r.ContentLength)
	if err != nil {
		ev = ev.Err(err)
	}
	ev.Msg("webhook request rejected")
	answer := http.StatusText(status)
	if status == http.StatusBadRequest {
		answer += ": " + reason
		if err != nil {
			answer += ": " + err.Error()
		}
	}
	http.Error(w, answer, status)
	return status
}
