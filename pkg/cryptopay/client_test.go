package cryptopay_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	sandbox "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
)

func TestCreateInvoiceRoundTripsOurOrder(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Config{})
	c := newClient(t, s.URL(), token, 0)
	ctx := context.Background()

	before := time.Now().Add(-time.Second)
	inv, err := c.CreateInvoice(ctx, cryptopay.CreateInvoice{
		AmountUSD:      "4.99",
		AcceptedAssets: []string{"USDT", "TON", "BTC"},
		Description:    "VPN, 1 month",
		Payload:        "order:42",
		ExpiresIn:      30 * time.Minute,
	})
	require.NoError(t, err)

	require.Positive(t, inv.InvoiceID)
	require.NotEmpty(t, inv.Hash)
	require.Equal(t, cryptopay.StatusActive, inv.Status)
	require.Equal(t, "fiat", inv.CurrencyType)
	require.Equal(t, "USD", inv.Fiat)
	require.Equal(t, "4.99", inv.Amount)
	require.Equal(t, []string{"USDT", "TON", "BTC"}, inv.AcceptedAssets)
	require.Equal(t, "VPN, 1 month", inv.Description)
	require.Equal(t, "order:42", inv.Payload)
	require.False(t, inv.AllowComments)
	require.False(t, inv.AllowAnonymous)
	require.Equal(t, s.URL()+"/pay/"+inv.Hash, inv.BotInvoiceURL, "the payer is sent to the sandbox's pay page")
	require.WithinRange(t, inv.CreatedAt, before, time.Now().Add(time.Second))
	require.Equal(t, inv.CreatedAt.Add(30*time.Minute), inv.ExpirationDate)
	require.True(t, inv.PaidAt.IsZero())

	// What went over the wire is the API's parameters, in the API's shapes.
	sent := requestsTo(s, "createInvoice")
	require.Len(t, sent, 1)
	require.Equal(t, map[string]string{
		"currency_type": "fiat", "fiat": "USD", "amount": "4.99", "accepted_assets": "USDT,TON,BTC",
		"description": "VPN, 1 month", "payload": "order:42", "expires_in": "1800",
		"allow_comments": "false", "allow_anonymous": "false",
	}, sent[0].Params)

	// Reading it back gives the same invoice.
	got, err := c.GetInvoices(ctx, []int64{inv.InvoiceID})
	require.NoError(t, err)
	require.Equal(t, []cryptopay.Invoice{inv}, got)
}

func TestCreateInvoiceRefusesWhatCryptoPayWouldWithoutCalling(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Config{})
	c := newClient(t, s.URL(), token, 0)

	for name, in := range map[string]cryptopay.CreateInvoice{
		"empty amount":       {},
		"zero":               {AmountUSD: "0.00"},
		"negative":           {AmountUSD: "-1"},
		"three decimals":     {AmountUSD: "4.999"},
		"exponent":           {AmountUSD: "1e3"},
		"lowercase asset":    {AmountUSD: "1", AcceptedAssets: []string{"usdt"}},
		"comma in asset":     {AmountUSD: "1", AcceptedAssets: []string{"USDT,TON"}},
		"payload over 4 KiB": {AmountUSD: "1", Payload: strings.Repeat("x", cryptopay.MaxPayloadBytes+1)},
		"description":        {AmountUSD: "1", Description: strings.Repeat("й", cryptopay.MaxDescriptionRunes+1)},
		"expiry over 31 d":   {AmountUSD: "1", ExpiresIn: cryptopay.MaxExpiresIn + time.Second},
		"negative expiry":    {AmountUSD: "1", ExpiresIn: -time.Second},
	} {
		_, err := c.CreateInvoice(context.Background(), in)
		require.Error(t, err, name)
		require.NotErrorIs(t, err, cryptopay.ErrUnavailable, name)
	}
	require.Empty(t, s.Requests())

	// The limits themselves are allowed, and expiry rounds up to whole seconds.
	_, err := c.CreateInvoice(context.Background(), cryptopay.CreateInvoice{
		AmountUSD: "0.01", Payload: strings.Repeat("x", cryptopay.MaxPayloadBytes), ExpiresIn: 1500 * time.Millisecond,
	})
	require.NoError(t, err)
	require.Equal(t, "2", requestsTo(s, "createInvoice")[0].Params["expires_in"])
}

func TestGetInvoicesSplitsLongListsAndSetsCount(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Config{})
	c := newClient(t, s.URL(), token, 0)
	ctx := context.Background()

	require.Empty(t, mustGet(t, c, nil))
	require.Empty(t, requestsTo(s, "getInvoices"), "nothing to ask, nothing asked")

	var real []int64
	for i := range 250 {
		inv, err := c.CreateInvoice(ctx, cryptopay.CreateInvoice{AmountUSD: "1", Payload: "order:" + strconv.Itoa(i)})
		require.NoError(t, err)
		real = append(real, inv.InvoiceID)
	}
	// 150 existing invoices in the first call: more than getInvoices' default
	// page of 100, so a call without count would lose some.
	var ids []int64
	ids = append(ids, real[:150]...)
	for i := range 1000 {
		ids = append(ids, 1_000_000+int64(i)) // unknown (say, deleted) invoices
	}
	ids = append(ids, real[150:]...)
	for i := range 850 {
		ids = append(ids, 2_000_000+int64(i))
	}
	ids = append(ids, real[0]) // asked twice, fetched once

	got, err := c.GetInvoices(ctx, ids)
	require.NoError(t, err)
	var gotIDs []int64
	for _, inv := range got {
		gotIDs = append(gotIDs, inv.InvoiceID)
	}
	slices.Sort(gotIDs)
	require.Equal(t, real, gotIDs)

	calls := requestsTo(s, "getInvoices")
	require.Len(t, calls, 3)
	for i, want := range []int{1000, 1000, 100} {
		require.Equal(t, strconv.Itoa(want), calls[i].Params["count"], "call %d", i)
		require.Len(t, strings.Split(calls[i].Params["invoice_ids"], ","), want, "call %d", i)
	}
}

func TestPollingSeesAPaymentAndADeletion(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Config{})
	c := newClient(t, s.URL(), token, 0)
	ctx := context.Background()

	paid, err := c.CreateInvoice(ctx, cryptopay.CreateInvoice{AmountUSD: "9.99", AcceptedAssets: []string{"TON"}, Payload: "order:1"})
	require.NoError(t, err)
	gone, err := c.CreateInvoice(ctx, cryptopay.CreateInvoice{AmountUSD: "9.99", Payload: "order:2"})
	require.NoError(t, err)

	_, err = s.MarkPaid(paid.InvoiceID)
	require.NoError(t, err)
	require.NoError(t, c.DeleteInvoice(ctx, gone.InvoiceID))

	got := mustGet(t, c, []int64{paid.InvoiceID, gone.InvoiceID})
	require.Len(t, got, 1, "a deleted invoice is no longer listed")
	require.Equal(t, paid.InvoiceID, got[0].InvoiceID)
	require.Equal(t, cryptopay.StatusPaid, got[0].Status)
	require.Equal(t, "TON", got[0].PaidAsset)
	require.NotEmpty(t, got[0].PaidAmount)
	require.Equal(t, "order:1", got[0].Payload)
	require.False(t, got[0].PaidAt.IsZero())

	err = c.DeleteInvoice(ctx, gone.InvoiceID)
	var apiErr *cryptopay.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "INVOICE_NOT_FOUND", apiErr.Name)
	require.NotErrorIs(t, err, cryptopay.ErrUnavailable, "retrying will not bring it back")
}

func mustGet(t *testing.T, c *cryptopay.Client, ids []int64) []cryptopay.Invoice {
	t.Helper()
	got, err := c.GetInvoices(context.Background(), ids)
	require.NoError(t, err)
	return got
}

func TestOutagesAreUnavailable(t *testing.T) {
	t.Parallel()
	create := func(c *cryptopay.Client) error {
		_, err := c.CreateInvoice(context.Background(), cryptopay.CreateInvoice{AmountUSD: "1"})
		return err
	}
	for _, tc := range []struct {
		name    string
		fault   sandbox.Fault
		apiCode int // non-zero: the answer is also an *APIError with this code
	}{
		{name: "500 envelope", fault: sandbox.Fault{Status: 500}, apiCode: 500},
		{name: "429 envelope", fault: sandbox.Fault{Status: 429}, apiCode: 429},
		{name: "502 from the proxy", fault: sandbox.Fault{Status: 502}},
		{name: "504 from the proxy", fault: sandbox.Fault{Status: 504}},
		{name: "slow", fault: sandbox.Fault{Latency: 3 * time.Second}},
		{name: "hung", fault: sandbox.Fault{Hang: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startSandbox(t, sandbox.Config{})
			c := newClient(t, s.URL(), token, 300*time.Millisecond)
			s.Inject(tc.fault)

			began := time.Now()
			err := create(c)
			require.ErrorIs(t, err, cryptopay.ErrUnavailable)
			require.Less(t, time.Since(began), 2*time.Second, "the client's timeout bounds the call")
			var apiErr *cryptopay.APIError
			if tc.apiCode != 0 {
				require.ErrorAs(t, err, &apiErr)
				require.Equal(t, tc.apiCode, apiErr.Code)
			} else {
				require.False(t, errors.As(err, &apiErr), "%v", err)
			}
			s.ClearFaults()
			require.NoError(t, create(c), "once the outage is over the same call succeeds")
		})
	}

	t.Run("down", func(t *testing.T) {
		t.Parallel()
		s := startSandbox(t, sandbox.Config{})
		url := s.URL()
		s.Close()
		err := create(newClient(t, url, token, time.Second))
		require.ErrorIs(t, err, cryptopay.ErrUnavailable)
	})

	t.Run("once", func(t *testing.T) {
		t.Parallel()
		s := startSandbox(t, sandbox.Config{})
		c := newClient(t, s.URL(), token, time.Second)
		s.Inject(sandbox.Fault{Method: "getInvoices", Status: 503, Times: 1})
		require.NoError(t, create(c), "other methods are not affected")
		_, err := c.GetInvoices(context.Background(), []int64{1})
		require.ErrorIs(t, err, cryptopay.ErrUnavailable)
		_, err = c.GetInvoices(context.Background(), []int64{1})
		require.NoError(t, err)
	})
}

func TestWrongTokenIsRefusedWithoutRevealingIt(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Config{AppName: "vpn shop"})
	const wrong = "12345:AAwrongwrongwrongwrongwrongwrong00"
	c := newClient(t, s.URL(), wrong, 0)

	_, err := c.GetMe(context.Background())
	var apiErr *cryptopay.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, cryptopay.APIError{Code: 401, Name: "UNAUTHORIZED"}, *apiErr)
	require.NotErrorIs(t, err, cryptopay.ErrUnavailable)
	require.NotContains(t, err.Error(), wrong)

	_, err = c.CreateInvoice(context.Background(), cryptopay.CreateInvoice{AmountUSD: "1"})
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "UNAUTHORIZED", apiErr.Name)
	require.Empty(t, s.Invoices())

	app, err := newClient(t, s.URL(), token, 0).GetMe(context.Background())
	require.NoError(t, err)
	require.Equal(t, "vpn shop", app.Name)
	require.Positive(t, app.AppID)
}

func TestNewChecksItsConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]cryptopay.Config{
		"no token":      {},
		"control chars": {Token: "1:a\nb"},
		"not a URL":     {Token: token, BaseURL: "pay.crypt.bot"},
		"ftp":           {Token: token, BaseURL: "ftp://pay.crypt.bot"},
	} {
		_, err := cryptopay.New(cfg)
		require.Error(t, err, name)
		require.NotContains(t, err.Error(), "AAHdq", name)
	}
	_, err := cryptopay.New(cryptopay.Config{Token: token})
	require.NoError(t, err, "the mainnet URL is the default")
}

func TestMetricsCountOutcomes(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Config{})
	reg := prometheus.NewRegistry()
	c, err := cryptopay.New(cryptopay.Config{BaseURL: s.URL(), Token: token, Registerer: reg, HTTPClient: httpClient(t)})
	require.NoError(t, err)
	// A second client on the same registry shares the series.
	c2, err := cryptopay.New(cryptopay.Config{BaseURL: s.URL(), Token: "1:wrong", Registerer: reg, HTTPClient: httpClient(t)})
	require.NoError(t, err)

	_, err = c.GetMe(context.Background())
	require.NoError(t, err)
	s.Inject(sandbox.Fault{Status: 502, Times: 1})
	_, err = c.GetMe(context.Background())
	require.Error(t, err)
	_, err = c2.GetMe(context.Background())
	require.Error(t, err)

	families, err := reg.Gather()
	require.NoError(t, err)
	counts := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "vpnbot_cryptopay_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			counts[fmt.Sprintf("%s/%s", labels["method"], labels["outcome"])] = m.GetCounter().GetValue()
		}
	}
	require.Equal(t, map[string]float64{"getMe/ok": 1, "getMe/unavailable": 1, "getMe/refused": 1}, counts)
}
