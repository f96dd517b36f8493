package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	"github.com/vpnbot/vpnbot/services/gateway/internal/gateway"
)

const cryptoPayToken = "12345:AAcryptoPayTestToken"

// startCryptoPayGateway runs a gateway with the Crypto Pay webhook on, and a
// Crypto Pay sandbox signing with token that delivers to it (retrying fast).
func startCryptoPayGateway(t *testing.T, token string) (*harness, *sandboxcp.Server, *cryptopay.Client) {
	t.Helper()
	h := startGateway(t, func(cfg *gateway.Config, _ string) { cfg.CryptoPayToken = cryptoPayToken })
	sb := sandboxcp.New(sandboxcp.Config{
		Token:      token,
		WebhookURL: h.url + gateway.CryptoPayWebhookPath,
		RetryBase:  50 * time.Millisecond,
		RetryMax:   200 * time.Millisecond,
		Log:        zerolog.Nop(),
	})
	require.NoError(t, sb.Start("127.0.0.1:0"))
	t.Cleanup(sb.Close)
	c, err := cryptopay.New(cryptopay.Config{BaseURL: sb.URL(), Token: token, Timeout: 5 * time.Second})
	require.NoError(t, err)
	return h, sb, c
}

// payInvoice creates an invoice at the sandbox and pays it, which sends its
// invoice_paid webhook.
func payInvoice(t *testing.T, sb *sandboxcp.Server, c *cryptopay.Client) int64 {
	t.Helper()
	inv, err := c.CreateInvoice(context.Background(), cryptopay.CreateInvoice{AmountUSD: "4.99", Payload: "order:1"})
	require.NoError(t, err)
	_, err = sb.MarkPaid(inv.InvoiceID)
	require.NoError(t, err)
	return inv.InvoiceID
}

// cryptoPayStored returns what payments.cryptopay holds in EVENTS.
func cryptoPayStored(t *testing.T, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.Stream)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		require.NoError(t, err)
		if m.Subject == events.SubjectCryptoPayPayments {
			out = append(out, m)
		}
	}
}

func TestCryptoPayWebhookStoresASignedUpdateOnce(t *testing.T) {
	t.Parallel()
	h, sb, c := startCryptoPayGateway(t, cryptoPayToken)
	id := payInvoice(t, sb, c)

	require.Eventually(t, func() bool { return sb.Stats().Deliveries == 1 }, 10*time.Second, 20*time.Millisecond,
		"the sandbox's webhook is answered 2xx")
	msgs := cryptoPayStored(t, h.js)
	require.Len(t, msgs, 1)
	upd, err := cryptopay.ParseUpdate(msgs[0].Data)
	require.NoError(t, err, "the raw signed body is stored")
	require.Equal(t, id, upd.Invoice.InvoiceID)
	require.Equal(t, cryptopay.StatusPaid, upd.Invoice.Status)
	require.Equal(t, "cryptopay:"+strconv.FormatInt(upd.UpdateID, 10), msgs[0].Header.Get(nats.MsgIdHdr))

	// Crypto Pay redelivering the same update is answered 200 and stored once.
	require.NoError(t, sb.Resend(id))
	require.Eventually(t, func() bool { return sb.Stats().Deliveries == 2 }, 10*time.Second, 20*time.Millisecond)
	require.Len(t, cryptoPayStored(t, h.js), 1)
	require.Equal(t, 2.0, metric(t, h.ops.Registry(), "vpnbot_gateway_cryptopay_requests_total", "status", "200"))
}

func TestCryptoPayWebhookRefusesUnsignedOrAlteredBodies(t *testing.T) {
	t.Parallel()
	// The sandbox signs with another app's token: every delivery is forged.
	h, sb, c := startCryptoPayGateway(t, "999:someone-elses-token")
	payInvoice(t, sb, c)
	require.Eventually(t, func() bool { return sb.Stats().DeliveryFailures >= 2 }, 10*time.Second, 20*time.Millisecond,
		"a wrongly signed webhook is refused, so the sender retries")

	body := []byte(`{"update_id":77,"update_type":"invoice_paid","request_date":"2026-01-01T00:00:00.000Z","payload":{"invoice_id":5,"status":"paid","secret_marker":"x"}}`)
	post := func(body []byte, signature string) int {
		req, err := http.NewRequest(http.MethodPost, h.url+gateway.CryptoPayWebhookPath, bytes.NewReader(body))
		require.NoError(t, err)
		if signature != "" {
			req.Header.Set(cryptopay.SignatureHeader, signature)
		}
		resp, err := h.client.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, post(body, ""), "no signature")
	altered := bytes.Clone(body)
	altered[len(altered)-3] = 'y' // one byte of the payload changed after signing
	require.Equal(t, http.StatusUnauthorized, post(altered, cryptopay.Sign(cryptoPayToken, body)), "altered body")
	require.Equal(t, http.StatusRequestEntityTooLarge, post(make([]byte, gateway.MaxBodyBytes+1), "ab"))

	require.Empty(t, cryptoPayStored(t, h.js), "nothing unverified is stored")
	reg := h.ops.Registry()
	unauthorized := metric(t, reg, "vpnbot_gateway_cryptopay_requests_total", "status", "401")
	require.GreaterOrEqual(t, unauthorized, 4.0)
	require.Zero(t, metric(t, reg, "vpnbot_gateway_cryptopay_requests_total", "status", "200"))
	logs := h.logs.String()
	require.Contains(t, logs, `"event":"CRYPTOPAY_WEBHOOK_REJECTED"`)
	require.Contains(t, logs, `"reason":"bad_signature"`)
	require.NotContains(t, logs, "secret_marker", "bodies are never logged")

	// The correctly signed original goes through.
	require.Equal(t, http.StatusOK, post(body, cryptopay.Sign(cryptoPayToken, body)))
	require.Len(t, cryptoPayStored(t, h.js), 1)
}

func TestCryptoPayWebhookAnswers503WhileNATSIsDownAndTheRetryIsStored(t *testing.T) {
	t.Parallel()
	h, sb, c := startCryptoPayGateway(t, cryptoPayToken)
	require.Eventually(t, func() bool { return h.ops.Ready(context.Background()) == nil }, 10*time.Second, 20*time.Millisecond)

	h.nats.Stop()
	id := payInvoice(t, sb, c)
	require.Eventually(t, func() bool {
		return metric(t, h.ops.Registry(), "vpnbot_gateway_cryptopay_requests_total", "status", "503") >= 2
	}, 10*time.Second, 20*time.Millisecond, "the webhook is refused with 503 while NATS is down")
	require.Zero(t, sb.Stats().Deliveries)

	h.nats.Restart()
	require.Eventually(t, func() bool { return sb.Stats().Deliveries == 1 }, 20*time.Second, 50*time.Millisecond,
		"the sandbox's retry is accepted once NATS is back")
	msgs := cryptoPayStored(t, h.js)
	require.Len(t, msgs, 1)
	upd, err := cryptopay.ParseUpdate(msgs[0].Data)
	require.NoError(t, err)
	require.Equal(t, id, upd.Invoice.InvoiceID)
}

func TestCryptoPayWebhookIsOffWithoutAToken(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	body := []byte(`{"update_id":1}`)
	req, err := http.NewRequest(http.MethodPost, h.url+gateway.CryptoPayWebhookPath, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(cryptopay.SignatureHeader, cryptopay.Sign("", body))
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
