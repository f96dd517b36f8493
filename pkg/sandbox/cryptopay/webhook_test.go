package cryptopay_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
)

func TestWebhookRetriesWithGrowingDelayThenGivesUp(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, always(http.StatusBadGateway))
	e := start(t, cryptopay.Config{WebhookURL: rc.srv.URL, RetryBase: 20 * time.Millisecond, MaxAttempts: 4})
	inv := e.create(nil)

	_, err := e.s.MarkPaid(id(inv))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.s.Stats().Abandoned == 1 }, 5*time.Second, 5*time.Millisecond)

	got := rc.deliveries()
	require.Len(t, got, 4, "MaxAttempts attempts, then no more")
	for i, least := range []time.Duration{20, 40, 80} {
		gap := got[i+1].at.Sub(got[i].at)
		require.GreaterOrEqual(t, gap, least*time.Millisecond, "gap %d", i)
	}
	for _, d := range got {
		require.Equal(t, got[0].body, d.body, "every attempt carries the same update")
		require.Equal(t, expectedSignature(d.body), d.signature)
	}
	st := e.s.Stats()
	require.Equal(t, 4, st.DeliveryFailures)
	require.Zero(t, st.Deliveries)
	require.Zero(t, st.Pending)
}

func TestResendDeliversTheSameUpdateAgain(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, always(http.StatusOK))
	e := start(t, cryptopay.Config{})
	inv := e.create(nil)

	require.ErrorIs(t, e.s.Resend(id(inv)), cryptopay.ErrNotPaid)
	_, err := e.s.MarkPaid(id(inv))
	require.NoError(t, err)
	_, err = e.s.MarkPaid(id(inv))
	require.ErrorIs(t, err, cryptopay.ErrNotActive, "an invoice is paid once")
	require.Never(t, func() bool { return e.s.Stats().Pending > 0 }, 50*time.Millisecond, 5*time.Millisecond,
		"no webhook set, nothing sent")

	// Set later, the webhook gets resent updates: byte for byte the same,
	// like a retry of a delivery whose 2xx was lost.
	e.s.SetWebhook(rc.srv.URL)
	require.NoError(t, e.s.Resend(id(inv)))
	require.NoError(t, e.s.Resend(id(inv)))
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 2 }, 5*time.Second, 5*time.Millisecond)
	got := rc.deliveries()
	require.Equal(t, got[0].body, got[1].body)
	require.Equal(t, expectedSignature(got[0].body), got[1].signature)
}

func TestClosingStopsRetries(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, always(http.StatusInternalServerError))
	s := cryptopay.New(cryptopay.Config{Token: token, WebhookURL: rc.srv.URL, RetryBase: time.Hour})
	require.NoError(t, s.Start("127.0.0.1:0"))
	e := &env{t: t, s: s, client: &http.Client{Transport: &http.Transport{}}}
	inv := e.create(nil)
	_, err := s.MarkPaid(id(inv))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.Stats().DeliveryFailures == 1 }, 5*time.Second, 5*time.Millisecond)

	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for an hour-long retry delay")
	}
	e.client.CloseIdleConnections()
	require.Len(t, rc.deliveries(), 1)
	require.Zero(t, s.Stats().Pending, "the retry was dropped, not left running")
}

// TestUnannouncedPaymentShowsOnlyInGetInvoices pays an invoice whose webhook
// is lost: the receiver gets nothing, getInvoices says paid, and Resend
// still delivers it.
func TestUnannouncedPaymentShowsOnlyInGetInvoices(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, always(http.StatusOK))
	e := start(t, cryptopay.Config{WebhookURL: rc.srv.URL})
	inv := e.create(nil)

	paid, err := e.s.MarkPaidUnannounced(id(inv))
	require.NoError(t, err)
	require.Equal(t, cryptopay.StatusPaid, paid.Status)
	require.Zero(t, e.s.Stats().Pending, "no webhook on its way (a delivery counts as pending from the payment on)")
	got := e.callQuery("getInvoices", url.Values{"invoice_ids": {strconv.FormatInt(id(inv), 10)}})
	require.True(t, got.OK)
	require.Contains(t, string(got.Result), `"status":"paid"`)

	require.NoError(t, e.s.Resend(id(inv)))
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 1 }, 5*time.Second, 5*time.Millisecond)
}
