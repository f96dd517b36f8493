package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
)

// CryptoPayWebhookPath is where Crypto Pay posts invoice_paid updates (set
// in the app's settings at @CryptoBot). It is served on HTTP_ADDR when
// CRYPTOPAY_TOKEN is set.
const CryptoPayWebhookPath = "/cryptopay/webhook"

// Event names of the Crypto Pay webhook's log lines.
const (
	// EventCryptoPayRejected: a Crypto Pay webhook request was refused
	// (reason: bad_signature, body_too_large, unreadable_body, malformed).
	EventCryptoPayRejected = "CRYPTOPAY_WEBHOOK_REJECTED"
	// EventCryptoPayPublishFailed: a verified update could not be stored in
	// EVENTS; the webhook answered 503 and Crypto Pay retries.
	EventCryptoPayPublishFailed = "CRYPTOPAY_PUBLISH_FAILED"
	// EventCryptoPayPublished: a verified update was stored (debug level).
	EventCryptoPayPublished = "CRYPTOPAY_UPDATE_PUBLISHED"
)

// cryptoPayWebhook is the HTTP handler of POST /cryptopay/webhook. It checks
// the signature and stores the raw body on payments.cryptopay; what the
// update means (which order, paid or not) is the payment-watcher's business,
// so an update for an invoice we do not know is stored and answered 200 like
// any other, and Crypto Pay stops retrying it.
type cryptoPayWebhook struct {
	token    string
	pub      *publisher
	traffic  *traffic
	log      zerolog.Logger // sampled, as the Telegram webhook's
	requests *prometheus.CounterVec
}

// addCryptoPay serves the Crypto Pay webhook on mux when CRYPTOPAY_TOKEN is
// set, with its metrics.
func (g *Gateway) addCryptoPay(mux *http.ServeMux, d Deps) error {
	if g.cfg.CryptoPayToken == "" {
		return nil
	}
	h := &cryptoPayWebhook{
		token:   g.cfg.CryptoPayToken,
		pub:     g.pub,
		traffic: g.traffic,
		log:     d.Log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_gateway_cryptopay_requests_total",
			Help: "Crypto Pay webhook requests by HTTP status answered (401 bad signature, 400/413 bad body, 503 broker unavailable).",
		}, []string{"status"}),
	}
	if err := d.Ops.Registry().Register(h.requests); err != nil {
		return fmt.Errorf("registering crypto pay webhook metrics: %w", err)
	}
	mux.Handle("POST "+CryptoPayWebhookPath, h)
	return nil
}

func (h *cryptoPayWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Stamped first, as for Telegram: any request, even a forged one, shows
	// that the endpoint is reachable.
	h.traffic.stamp()
	status := h.serve(w, r)
	h.requests.WithLabelValues(strconv.Itoa(status)).Inc()
}

func (h *cryptoPayWebhook) serve(w http.ResponseWriter, r *http.Request) int {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			return h.reject(w, r, http.StatusRequestEntityTooLarge, "body_too_large", nil)
		}
		return h.reject(w, r, http.StatusBadRequest, "unreadable_body", err)
	}
	// The signature is checked before the body is looked at in any way: an
	// unsigned body is nobody's business, and is never logged.
	if err := cryptopay.VerifyWebhook(h.token, body, r.Header.Get(cryptopay.SignatureHeader)); err != nil {
		return h.reject(w, r, http.StatusUnauthorized, "bad_signature", err)
	}
	var head struct {
		UpdateID int64 `json:"update_id"`
	}
	if err := json.Unmarshal(body, &head); err != nil || head.UpdateID <= 0 {
		// Signed but unreadable: retrying will not fix it, but Crypto Pay
		// should hear that we did not take it.
		return h.reject(w, r, http.StatusBadRequest, "malformed", err)
	}
	msg := &nats.Msg{Subject: events.SubjectCryptoPayPayments, Data: body}
	// The update's id as message id: Crypto Pay redelivering it is stored once.
	if _, err := h.pub.store(r.Context(), msg, "cryptopay:"+strconv.FormatInt(head.UpdateID, 10)); err != nil {
		h.log.Error().Ctx(r.Context()).Str("event", EventCryptoPayPublishFailed).Err(err).Int64("update_id", head.UpdateID).
			Msg("could not store the crypto pay update; answering 503 so that Crypto Pay retries")
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, "update not stored, retry", http.StatusServiceUnavailable)
		return http.StatusServiceUnavailable
	}
	h.log.Debug().Ctx(r.Context()).Str("event", EventCryptoPayPublished).Int64("update_id", head.UpdateID).Msg("crypto pay update stored")
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// reject answers status and logs why, never with the body or the signature.
func (h *cryptoPayWebhook) reject(w http.ResponseWriter, r *http.Request, status int, reason string, err error) int {
	ev := h.log.Warn().Ctx(r.Context()).Str("event", EventCryptoPayRejected).Str("reason", reason).Int("status", status).
		Str("remote", r.RemoteAddr).Int64("content_length", r.ContentLength)
	if err != nil {
		ev = ev.Err(err)
	}
	ev.Msg("crypto pay webhook request rejected")
	http.Error(w, http.StatusText(status), status)
	return status
}
