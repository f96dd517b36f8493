package cryptopay_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
)

// page GETs or POSTs a pay page (following the redirect after paying) and
// returns the final status and HTML.
func (e *env) page(method, link string, form url.Values) (int, string) {
	e.t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = e.client.PostForm(link, form)
	} else {
		resp, err = e.client.Get(link)
	}
	require.NoError(e.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, string(body)
}

func TestPayPagePaysTheInvoiceOnce(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, always(http.StatusOK))
	e := start(t, cryptopay.Config{WebhookURL: rc.srv.URL})
	inv := e.create(map[string]any{"accepted_assets": "USDT,TON", "description": "VPN, 1 month", "payload": "order:9"})
	link := inv["bot_invoice_url"].(string)

	status, html := e.page(http.MethodGet, link, nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, html, `<button type="submit" id="pay">Pay $4.99</button>`)
	require.Contains(t, html, `<option value="TON">TON</option>`)
	require.Contains(t, html, "VPN, 1 month")

	status, html = e.page(http.MethodPost, link, url.Values{"asset": {"TON"}})
	require.Equal(t, http.StatusOK, status, html)
	require.Contains(t, html, "Paid: 1.559375 TON") // $4.99 at the sandbox's $3.2 per TON
	require.NotContains(t, html, `id="pay"`)

	paid, err := e.s.Invoice(id(inv))
	require.NoError(t, err)
	require.Equal(t, cryptopay.StatusPaid, paid.Status)
	require.Equal(t, "TON", paid.PaidAsset)
	require.Equal(t, "1.559375", paid.PaidAmount)
	require.Equal(t, "3.2", paid.PaidFiatRate)
	require.Equal(t, "0.04678125", paid.FeeAmount)

	// The webhook carries the paid invoice, signed as Crypto Pay documents.
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 1 }, 5*time.Second, 5*time.Millisecond)
	d := rc.deliveries()[0]
	require.Equal(t, expectedSignature(d.body), d.signature)
	var u struct {
		UpdateID    int64          `json:"update_id"`
		UpdateType  string         `json:"update_type"`
		RequestDate string         `json:"request_date"`
		Payload     map[string]any `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(d.body, &u))
	require.Equal(t, "invoice_paid", u.UpdateType)
	require.Regexp(t, isoMillis, u.RequestDate)
	require.Equal(t, "paid", u.Payload["status"])
	require.Equal(t, "order:9", u.Payload["payload"])
	require.Equal(t, "1.559375", u.Payload["paid_amount"])

	// Paying again (a reload, a second click) changes nothing and sends nothing.
	status, _ = e.page(http.MethodPost, link, url.Values{"asset": {"USDT"}})
	require.Equal(t, http.StatusOK, status)
	again, err := e.s.Invoice(id(inv))
	require.NoError(t, err)
	require.Equal(t, paid, again)
	require.Never(t, func() bool { return len(rc.deliveries()) > 1 }, 100*time.Millisecond, 10*time.Millisecond)
}

func TestPayPageRefusesWhatCannotBePaid(t *testing.T) {
	t.Parallel()
	e := start(t, cryptopay.Config{})
	inv := e.create(map[string]any{"accepted_assets": "USDT"})
	link := inv["bot_invoice_url"].(string)

	status, html := e.page(http.MethodPost, link, url.Values{"asset": {"BTC"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, html, "not accepted")

	_, err := e.s.Expire(id(inv))
	require.NoError(t, err)
	status, html = e.page(http.MethodGet, link, nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, html, "This invoice has expired.")
	require.NotContains(t, html, `id="pay"`)
	status, _ = e.page(http.MethodPost, link, nil)
	require.Equal(t, http.StatusGone, status)

	require.True(t, e.callJSON("deleteInvoice", map[string]any{"invoice_id": id(inv)}).OK)
	status, _ = e.page(http.MethodGet, link, nil)
	require.Equal(t, http.StatusNotFound, status)

	crypto := e.create(map[string]any{"currency_type": "crypto", "asset": "TON", "amount": "2"})
	_, html = e.page(http.MethodGet, crypto["bot_invoice_url"].(string), nil)
	require.Contains(t, html, "Pay 2 TON")
}
