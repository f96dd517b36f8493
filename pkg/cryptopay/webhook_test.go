package cryptopay_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	sandbox "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
)

// paidBody is an invoice_paid update as Crypto Pay sends it.
const paidBody = `{"update_id":7,"update_type":"invoice_paid","request_date":"2026-02-18T15:17:22.601Z",` +
	`"payload":{"invoice_id":828733,"hash":"IVHuvcfIGkOl","currency_type":"fiat","fiat":"USD","amount":"4.99",` +
	`"paid_asset":"TON","paid_amount":"1.559375","paid_fiat_rate":"3.2","accepted_assets":["USDT","TON","BTC"],` +
	`"fee_asset":"TON","fee_amount":"0.04678125","pay_url":"https://t.me/CryptoBot?start=IVHuvcfIGkOl",` +
	`"bot_invoice_url":"https://t.me/CryptoBot?start=IVHuvcfIGkOl",` +
	`"mini_app_invoice_url":"https://t.me/CryptoBot/app?startapp=invoice-IVHuvcfIGkOl&mode=compact",` +
	`"web_app_invoice_url":"https://app.send.tg/invoices/IVHuvcfIGkOl","description":"VPN, 1 month","status":"paid",` +
	`"created_at":"2026-02-18T15:12:54.682Z","allow_comments":false,"allow_anonymous":false,` +
	`"expiration_date":"2026-02-18T16:12:54.679Z","paid_usd_rate":"3.2","paid_at":"2026-02-18T15:17:22.514Z",` +
	`"paid_anonymously":false,"payload":"order:42"}}`

func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	body := []byte(`{"update_id":1,"update_type":"invoice_paid"}`)
	// Computed with Python's hmac and hashlib, outside this code base.
	const fromPython = "3220a55151cf1eba4a66c022ff09ddd4856260921ec9be5ed5e262b8580878f6"
	require.Equal(t, fromPython, cryptopay.Sign("1234:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", body))

	// And as Crypto Pay documents it: the key is SHA-256 of the token, not the token.
	key := sha256.Sum256([]byte(token))
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(paidBody))
	require.Equal(t, hex.EncodeToString(m.Sum(nil)), cryptopay.Sign(token, []byte(paidBody)))
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	body := []byte(paidBody)
	valid := cryptopay.Sign(token, body)
	require.NoError(t, cryptopay.VerifyWebhook(token, body, valid))

	altered := []byte(paidBody)
	altered[len(altered)-4]++ // "order:42" → "order:43"
	for name, tc := range map[string]struct {
		token, signature string
		body             []byte
	}{
		"signed with another token": {token, cryptopay.Sign("12345:AAother", body), body},
		"missing":                   {token, "", body},
		"odd length":                {token, valid[:63], body},
		"not hex":                   {token, "zz" + valid[2:], body},
		"too short":                 {token, valid[:62], body},
		"too long":                  {token, valid + "00", body},
		"body altered by one byte":  {token, valid, altered},
		"empty body":                {token, valid, nil},
		"no token to check with":    {"", cryptopay.Sign("", body), body},
	} {
		err := cryptopay.VerifyWebhook(tc.token, tc.body, tc.signature)
		require.ErrorIs(t, err, cryptopay.ErrBadSignature, name)
		require.NotContains(t, err.Error(), token, name)
	}
}

func TestParseUpdate(t *testing.T) {
	t.Parallel()
	u, err := cryptopay.ParseUpdate([]byte(paidBody))
	require.NoError(t, err)
	require.Equal(t, int64(7), u.UpdateID)
	require.Equal(t, cryptopay.UpdateInvoicePaid, u.UpdateType)
	require.Equal(t, time.Date(2026, 2, 18, 15, 17, 22, 601e6, time.UTC), u.RequestDate.UTC())
	inv := u.Invoice
	require.Equal(t, int64(828733), inv.InvoiceID)
	require.Equal(t, cryptopay.StatusPaid, inv.Status)
	require.Equal(t, "order:42", inv.Payload)
	require.Equal(t, "4.99", inv.Amount)
	require.Equal(t, "USD", inv.Fiat)
	require.Equal(t, "TON", inv.PaidAsset)
	require.Equal(t, "1.559375", inv.PaidAmount)
	require.Equal(t, []string{"USDT", "TON", "BTC"}, inv.AcceptedAssets)
	require.Equal(t, time.Date(2026, 2, 18, 15, 17, 22, 514e6, time.UTC), inv.PaidAt.UTC())

	for name, body := range map[string]string{
		"not JSON":   `<html>`,
		"no type":    `{"update_id":1,"payload":{"invoice_id":1}}`,
		"no invoice": `{"update_id":1,"update_type":"invoice_paid"}`,
		"bad amount": `{"update_id":1,"update_type":"invoice_paid","payload":{"invoice_id":1,"amount":4.99}}`,
	} {
		_, err := cryptopay.ParseUpdate([]byte(body))
		require.ErrorIs(t, err, cryptopay.ErrMalformedUpdate, name)
	}
}

// receiver is our side of the webhook: it verifies and parses each delivery
// with the production functions, failing the first failFirst attempts.
type receiver struct {
	srv      *httptest.Server
	attempts atomic.Int32
	updates  chan cryptopay.Update
}

func startReceiver(t *testing.T, failFirst int32) *receiver {
	t.Helper()
	rc := &receiver{updates: make(chan cryptopay.Update, 10)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rc.attempts.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := cryptopay.VerifyWebhook(token, body, r.Header.Get(cryptopay.SignatureHeader)); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if n <= failFirst {
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		u, err := cryptopay.ParseUpdate(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.updates <- u
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) next(t *testing.T) cryptopay.Update {
	t.Helper()
	select {
	case u := <-rc.updates:
		return u
	case <-time.After(5 * time.Second):
		t.Fatalf("no verified webhook after %d attempts", rc.attempts.Load())
		return cryptopay.Update{}
	}
}

func TestSandboxWebhookIsVerifiedAndRetriedUntilAccepted(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, 2)
	s := startSandbox(t, sandbox.Config{WebhookURL: rc.srv.URL, RetryBase: 20 * time.Millisecond})
	c := newClient(t, s.URL(), token, 0)

	inv, err := c.CreateInvoice(context.Background(), cryptopay.CreateInvoice{
		AmountUSD: "4.99", AcceptedAssets: []string{"USDT", "TON"}, Payload: "order:7",
	})
	require.NoError(t, err)
	_, err = s.MarkPaid(inv.InvoiceID)
	require.NoError(t, err)

	u := rc.next(t)
	require.Equal(t, int32(3), rc.attempts.Load(), "two failed attempts, then the accepted one")
	require.Equal(t, cryptopay.UpdateInvoicePaid, u.UpdateType)
	require.Positive(t, u.UpdateID)
	require.False(t, u.RequestDate.IsZero())
	require.Equal(t, inv.InvoiceID, u.Invoice.InvoiceID)
	require.Equal(t, cryptopay.StatusPaid, u.Invoice.Status)
	require.Equal(t, "order:7", u.Invoice.Payload)
	require.Equal(t, "4.99", u.Invoice.Amount)
	require.Equal(t, "USDT", u.Invoice.PaidAsset)
	require.Equal(t, "4.99", u.Invoice.PaidAmount)
	require.False(t, u.Invoice.PaidAt.IsZero())

	// The poller's view agrees with the webhook's.
	polled := mustGet(t, c, []int64{inv.InvoiceID})
	require.Equal(t, []cryptopay.Invoice{u.Invoice}, polled)

	require.Eventually(t, func() bool {
		st := s.Stats()
		return st.Deliveries == 1 && st.DeliveryFailures == 2 && st.Pending == 0
	}, 5*time.Second, 5*time.Millisecond)
}
