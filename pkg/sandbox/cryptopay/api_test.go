package cryptopay_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/clocktest"
	"github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
)

var isoMillis = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestInvoiceJSONIsCryptoPays(t *testing.T) {
	t.Parallel()
	e := start(t, cryptopay.Config{})

	inv := e.create(map[string]any{
		"accepted_assets": "USDT,TON", "description": "VPN, 1 month", "payload": "order:42",
		"expires_in": 600, "allow_comments": false,
	})
	require.Equal(t, "fiat", inv["currency_type"])
	require.Equal(t, "USD", inv["fiat"])
	require.Equal(t, "4.99", inv["amount"], "amounts are strings")
	require.Equal(t, []any{"USDT", "TON"}, inv["accepted_assets"], "an array in the object, a comma list as a parameter")
	require.Equal(t, "active", inv["status"])
	require.Equal(t, "order:42", inv["payload"])
	require.Equal(t, false, inv["allow_comments"])
	require.Equal(t, true, inv["allow_anonymous"], "the API's default")
	require.Regexp(t, `^IV[A-Za-z0-9]{10}$`, inv["hash"])
	require.Equal(t, e.s.URL()+"/pay/"+inv["hash"].(string), inv["bot_invoice_url"])
	require.Equal(t, inv["bot_invoice_url"], inv["pay_url"], "the deprecated field is still sent")
	require.NotEmpty(t, inv["mini_app_invoice_url"])
	require.NotEmpty(t, inv["web_app_invoice_url"])
	require.Regexp(t, isoMillis, inv["created_at"])
	require.Regexp(t, isoMillis, inv["expiration_date"])
	created, _ := time.Parse(time.RFC3339, inv["created_at"].(string))
	expires, _ := time.Parse(time.RFC3339, inv["expiration_date"].(string))
	require.Equal(t, 10*time.Minute, expires.Sub(created))
	for _, unpaid := range []string{"paid_at", "paid_asset", "paid_amount", "paid_anonymously", "fee_amount", "asset"} {
		require.NotContains(t, inv, unpaid)
	}

	// Query-string parameters and crypto invoices work too.
	a := e.callQuery("createInvoice", url.Values{"asset": {"TON"}, "amount": {"1.5"}})
	require.True(t, a.OK, "%+v", a)
	crypto := decode[map[string]any](t, a.Result)
	require.Equal(t, "crypto", crypto["currency_type"])
	require.Equal(t, "TON", crypto["asset"])
	require.NotContains(t, crypto, "expiration_date", "no expires_in, no expiry")

	paid, err := e.s.MarkPaid(id(inv))
	require.NoError(t, err)
	require.Equal(t, "USDT", paid.PaidAsset, "the first accepted asset")
	got := decode[map[string][]map[string]any](t, e.callJSON("getInvoices", map[string]any{"invoice_ids": strconv.FormatInt(id(inv), 10)}).Result)["items"]
	require.Len(t, got, 1)
	require.Equal(t, "paid", got[0]["status"])
	require.Equal(t, "USDT", got[0]["paid_asset"])
	require.Equal(t, "4.99", got[0]["paid_amount"])
	require.Equal(t, "1", got[0]["paid_fiat_rate"])
	require.Equal(t, "0.1497", got[0]["fee_amount"])
	require.Equal(t, false, got[0]["paid_anonymously"])
	require.Regexp(t, isoMillis, got[0]["paid_at"])
}

func TestAPIRefusalsAreCryptoPaysEnvelope(t *testing.T) {
	t.Parallel()
	e := start(t, cryptopay.Config{})

	req, err := http.NewRequest(http.MethodPost, e.s.URL()+"/api/getMe", nil)
	require.NoError(t, err)
	req.Header.Set("Crypto-Pay-API-Token", "12345:AAwrong")
	a := e.do(req)
	require.Equal(t, http.StatusUnauthorized, a.Status)
	require.False(t, a.OK)
	require.Equal(t, 401, a.Error.Code)
	require.Equal(t, "UNAUTHORIZED", a.Error.Name)

	a = e.callJSON("getSomething", nil)
	require.Equal(t, http.StatusMethodNotAllowed, a.Status)
	require.Equal(t, "METHOD_NOT_FOUND", a.Error.Name)

	for want, params := range map[string]map[string]any{
		"AMOUNT_INVALID":          {"currency_type": "fiat", "fiat": "USD", "amount": "-1"},
		"FIAT_INVALID":            {"currency_type": "fiat", "fiat": "XYZ", "amount": "1"},
		"ASSET_INVALID":           {"asset": "DOGE", "amount": "1"},
		"ACCEPTED_ASSETS_INVALID": {"currency_type": "fiat", "fiat": "USD", "amount": "1", "accepted_assets": "USDT,DOGE"},
		"CURRENCY_TYPE_INVALID":   {"currency_type": "barter", "amount": "1"},
		"PAYLOAD_TOO_LONG":        {"asset": "TON", "amount": "1", "payload": strings.Repeat("x", 4097)},
		"EXPIRES_IN_INVALID":      {"asset": "TON", "amount": "1", "expires_in": 2678401},
		"PAID_BTN_URL_REQUIRED":   {"asset": "TON", "amount": "1", "paid_btn_name": "openBot"},
	} {
		a := e.callJSON("createInvoice", params)
		require.Equal(t, http.StatusBadRequest, a.Status, want)
		require.Equal(t, want, a.Error.Name)
	}
	require.Equal(t, "COUNT_INVALID", e.callJSON("getInvoices", map[string]any{"count": 1001}).Error.Name)
	require.Equal(t, "INVOICE_NOT_FOUND", e.callJSON("deleteInvoice", map[string]any{"invoice_id": 99}).Error.Name)
	require.Empty(t, e.s.Invoices())

	me := decode[map[string]any](t, e.callJSON("getMe", nil).Result)
	require.Equal(t, "vpnbot sandbox", me["name"])
	require.Equal(t, map[string]int{"getMe": 2, "getSomething": 1, "createInvoice": 8, "getInvoices": 1, "deleteInvoice": 1},
		e.s.Stats().Requests, "refused calls are counted too")
}

func TestGetInvoicesPagesLikeCryptoPay(t *testing.T) {
	t.Parallel()
	e := start(t, cryptopay.Config{})
	var ids []string
	for range 120 {
		ids = append(ids, strconv.FormatInt(id(e.create(nil)), 10))
	}
	items := func(params map[string]any) []map[string]any {
		t.Helper()
		a := e.callJSON("getInvoices", params)
		require.True(t, a.OK, "%+v", a)
		return decode[map[string][]map[string]any](t, a.Result)["items"]
	}

	require.Len(t, items(nil), 100, "count defaults to 100")
	require.Len(t, items(map[string]any{"invoice_ids": strings.Join(ids, ",")}), 100, "even when ids are given")
	all := items(map[string]any{"invoice_ids": strings.Join(ids, ","), "count": 1000})
	require.Len(t, all, 120)
	require.Equal(t, float64(120), all[0]["invoice_id"], "newest first")
	require.Len(t, items(map[string]any{"count": 1000, "offset": 110}), 10)
	require.Len(t, items(map[string]any{"invoice_ids": []string{ids[0], ids[5], "999999"}}), 2, "unknown ids are skipped; arrays are read as comma lists")

	_, err := e.s.MarkPaid(1)
	require.NoError(t, err)
	paid := items(map[string]any{"status": "paid"})
	require.Len(t, paid, 1)
	require.Equal(t, float64(1), paid[0]["invoice_id"])

	a := e.callJSON("deleteInvoice", map[string]any{"invoice_id": 2})
	require.True(t, a.OK)
	require.JSONEq(t, "true", string(a.Result))
	require.Len(t, items(map[string]any{"count": 1000}), 119)
	_, err = e.s.Invoice(2)
	require.ErrorIs(t, err, cryptopay.ErrNotFound)
}

func TestInvoicesExpireOnTheirOwn(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	rc := startReceiver(t, always(http.StatusOK))
	e := start(t, cryptopay.Config{NowFunc: clk.Now, WebhookURL: rc.srv.URL})

	short := e.create(map[string]any{"expires_in": 60})
	forever := e.create(nil)
	clk.Advance(59 * time.Second)
	inv, err := e.s.Invoice(id(short))
	require.NoError(t, err)
	require.Equal(t, cryptopay.StatusActive, inv.Status)

	clk.Advance(time.Second)
	got := decode[map[string][]map[string]any](t, e.callJSON("getInvoices", map[string]any{"status": "expired"}).Result)["items"]
	require.Len(t, got, 1)
	require.Equal(t, float64(id(short)), got[0]["invoice_id"])
	_, err = e.s.MarkPaid(id(short))
	require.ErrorIs(t, err, cryptopay.ErrNotActive, "an expired invoice cannot be paid")

	inv, err = e.s.Expire(id(forever))
	require.NoError(t, err)
	require.Equal(t, cryptopay.StatusExpired, inv.Status)
	_, err = e.s.Expire(id(forever))
	require.ErrorIs(t, err, cryptopay.ErrNotActive)
	_, err = e.s.Expire(404)
	require.ErrorIs(t, err, cryptopay.ErrNotFound)

	require.Never(t, func() bool { return len(rc.deliveries()) > 0 }, 100*time.Millisecond, 10*time.Millisecond,
		"expiry sends no webhook")
}
