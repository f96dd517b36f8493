package cryptopay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
	"time"
)

// SignatureHeader carries a webhook body's signature.
const SignatureHeader = "crypto-pay-api-signature"

// update is a webhook body.
type update struct {
	UpdateID    int64   `json:"update_id"`
	UpdateType  string  `json:"update_type"`
	RequestDate string  `json:"request_date"`
	Payload     Invoice `json:"payload"`
}

// sign is Crypto Pay's webhook signature: hex HMAC-SHA256 of the raw body,
// keyed by SHA-256 of the app's token. It is written here on its own, not
// borrowed from pkg/cryptopay, so that the client's verifier is checked
// against a second implementation.
func sign(token string, body []byte) string {
	key := sha256.Sum256([]byte(token))
	m := hmac.New(sha256.New, key[:])
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// queueLocked starts delivering body, unless no webhook is set or the
// server is closing.
func (s *Server) queueLocked(invoiceID int64, body []byte) {
	if s.webhookURL == "" || s.closed {
		return
	}
	s.stats.Pending++
	s.wg.Add(1)
	go s.deliver(invoiceID, body)
}

// deliver POSTs one update until it gets a 2xx, waiting longer after each
// failure, and gives up after MaxAttempts or when the webhook is removed.
func (s *Server) deliver(invoiceID int64, body []byte) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.stats.Pending--
		s.mu.Unlock()
	}()
	signature := sign(s.cfg.Token, body)
	delay := s.cfg.RetryBase
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		url := s.webhookURL
		s.mu.Unlock()
		if url == "" {
			return
		}
		failure := s.post(url, signature, body)
		if s.ctx.Err() != nil {
			return // closing: the attempt was cut short, not failed
		}
		s.mu.Lock()
		if failure == "" {
			s.stats.Deliveries++
			s.mu.Unlock()
			return
		}
		s.stats.DeliveryFailures++
		last := attempt >= s.cfg.MaxAttempts
		if last {
			s.stats.Abandoned++
		}
		s.mu.Unlock()
		if last {
			s.log.Warn().Int64("invoice_id", invoiceID).Int("attempts", attempt).Str("error", failure).
				Msg("webhook delivery given up")
			return
		}
		s.log.Warn().Int64("invoice_id", invoiceID).Int("attempt", attempt).Dur("retry_in", delay).
			Str("error", failure).Msg("webhook delivery failed")
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
		delay = min(delay*2, s.cfg.RetryMax)
	}
}

// post sends one update and describes a failure; "" means delivered.
func (s *Server) post(url, signature string, body []byte) string {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Sprintf("bad webhook URL: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, signature)
	resp, err := s.client.Do(req)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case err != nil:
		return err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // drained so the connection is reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "answered " + resp.Status
	}
	return ""
}
