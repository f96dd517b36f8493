package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/retry"
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
	token   string
	nc      *nats.Conn
	js      jetstream.JetStream
	timeout time.Duration
	traffic *traffic
	log     zerolog.Logger // sampled, as the Telegram webhook's

	requests    *prometheus.CounterVec
	streamReady atomic.Bool
	streamLost  chan struct{} // capacity 1: a pending request to declare EVENTS again
}

// addCryptoPay serves the Crypto Pay webhook on mux when CRYPTOPAY_TOKEN is
// set, with its metrics and the readiness of the EVENTS stream it writes to.
func (g *Gateway) addCryptoPay(mux *http.ServeMux, d Deps) error {
	if g.cfg.CryptoPayToken == "" {
		return nil
	}
	h := &cryptoPayWebhook{
		token:   g.cfg.CryptoPayToken,
		nc:      d.NC,
		js:      d.JS,
		timeout: g.cfg.PublishTimeout,
		traffic: g.traffic,
		log:     d.Log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_gateway_cryptopay_requests_total",
			Help: "Crypto Pay webhook requests by HTTP status answered (401 bad signature, 400/413 bad body, 503 broker unavailable).",
		}, []string{"status"}),
		streamLost: make(chan struct{}, 1),
	}
	if err := d.Ops.Registry().Register(h.requests); err != nil {
		return fmt.Errorf("registering crypto pay webhook metrics: %w", err)
	}
	mux.Handle("POST "+CryptoPayWebhookPath, h)
	d.Ops.AddReadiness("events_stream", func(context.Context) error {
		if !h.streamReady.Load() {
			return fmt.Errorf("stream %s not declared yet", events.Stream)
		}
		return nil
	})
	g.cryptoPay = h
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
	if err := h.publish(r.Context(), body, head.UpdateID); err != nil {
		h.log.Error().Str("event", EventCryptoPayPublishFailed).Err(err).Int64("update_id", head.UpdateID).
			Msg("could not store the crypto pay update; answering 503 so that Crypto Pay retries")
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, "update not stored, retry", http.StatusServiceUnavailable)
		return http.StatusServiceUnavailable
	}
	h.log.Debug().Str("event", EventCryptoPayPublished).Int64("update_id", head.UpdateID).Msg("crypto pay update stored")
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// publish stores body on payments.cryptopay under the update's message id,
// so Crypto Pay redelivering it is stored once, and waits for the ack.
func (h *cryptoPayWebhook) publish(ctx context.Context, body []byte, updateID int64) error {
	if !h.nc.IsConnected() {
		return errBrokerDown
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	_, err := bus.Publish(ctx, h.js, events.SubjectCryptoPayPayments, body, "cryptopay:"+strconv.FormatInt(updateID, 10))
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		select {
		case h.streamLost <- struct{}{}:
		default:
		}
	}
	return err
}

// reject answers status and logs why, never with the body or the signature.
func (h *cryptoPayWebhook) reject(w http.ResponseWriter, r *http.Request, status int, reason string, err error) int {
	ev := h.log.Warn().Str("event", EventCryptoPayRejected).Str("reason", reason).Int("status", status).
		Str("remote", r.RemoteAddr).Int64("content_length", r.ContentLength)
	if err != nil {
		ev = ev.Err(err)
	}
	ev.Msg("crypto pay webhook request rejected")
	http.Error(w, http.StatusText(status), status)
	return status
}

// keepStream declares EVENTS, retrying until NATS answers, and again
// whenever a publish finds nothing listening on payments.cryptopay.
func (h *cryptoPayWebhook) keepStream(ctx context.Context, log zerolog.Logger) {
	delay := retry.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for {
		dctx, cancel := context.WithTimeout(ctx, declareTimeout)
		err := bus.DeclareStreams(dctx, h.js, events.StreamConfig())
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			h.streamReady.Store(false)
			wait := delay.Next()
			log.Warn().Str("event", EventStreamDeclareFailed).Str("stream", events.Stream).Err(err).
				Dur("retry_in", wait).Msg("could not declare the events stream; retrying")
			if !retry.Sleep(ctx, wait) {
				return
			}
			continue
		}
		delay.Reset()
		if !h.streamReady.Swap(true) {
			log.Info().Str("event", EventStreamDeclared).Str("stream", events.Stream).Msg("events stream declared")
		}
		select {
		case <-ctx.Done():
			return
		case <-h.streamLost:
		}
	}
}
