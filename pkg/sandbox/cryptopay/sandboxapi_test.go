package cryptopay_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
)

func TestSandboxHTTPAPIDrivesInvoices(t *testing.T) {
	t.Parallel()
	rc := startReceiver(t, always(http.StatusOK))
	e := start(t, cryptopay.Config{})
	a, b := id(e.create(nil)), id(e.create(nil))

	status, body := e.sandbox(http.MethodPut, "/sandbox/webhook", fmt.Sprintf(`{"url":%q}`, rc.srv.URL))
	require.Equal(t, http.StatusNoContent, status, string(body))

	status, body = e.sandbox(http.MethodPost, fmt.Sprintf("/sandbox/invoices/%d/paid", a), "")
	require.Equal(t, http.StatusOK, status, string(body))
	paid := decode[map[string]any](t, body)
	require.Equal(t, "paid", paid["status"])
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 1 }, 5*time.Second, 5*time.Millisecond)

	status, _ = e.sandbox(http.MethodPost, fmt.Sprintf("/sandbox/invoices/%d/paid", a), "")
	require.Equal(t, http.StatusConflict, status)
	status, _ = e.sandbox(http.MethodPost, fmt.Sprintf("/sandbox/invoices/%d/resend", a), "")
	require.Equal(t, http.StatusOK, status)
	require.Eventually(t, func() bool { return len(rc.deliveries()) == 2 }, 5*time.Second, 5*time.Millisecond)

	status, body = e.sandbox(http.MethodPost, fmt.Sprintf("/sandbox/invoices/%d/expired", b), "")
	require.Equal(t, http.StatusOK, status, string(body))
	require.Equal(t, "expired", decode[map[string]any](t, body)["status"])
	status, _ = e.sandbox(http.MethodPost, fmt.Sprintf("/sandbox/invoices/%d/resend", b), "")
	require.Equal(t, http.StatusConflict, status)
	status, _ = e.sandbox(http.MethodPost, "/sandbox/invoices/77/paid", "")
	require.Equal(t, http.StatusNotFound, status)
	status, _ = e.sandbox(http.MethodPost, "/sandbox/invoices/abc/paid", "")
	require.Equal(t, http.StatusBadRequest, status)

	status, body = e.sandbox(http.MethodGet, "/sandbox/invoices", "")
	require.Equal(t, http.StatusOK, status)
	list := decode[[]map[string]any](t, body)
	require.Len(t, list, 2)
	require.Equal(t, []any{"paid", "expired"}, []any{list[0]["status"], list[1]["status"]})

	status, _ = e.sandbox(http.MethodPost, "/sandbox/faults", `{"method":"getMe","status":502,"times":1,"latency":"1ms"}`)
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, http.StatusBadGateway, rawStatus(t, e, "getMe"))
	require.Equal(t, http.StatusOK, rawStatus(t, e, "getMe"))
	status, _ = e.sandbox(http.MethodPost, "/sandbox/faults", `{"status":500,"latency":5}`)
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, http.StatusInternalServerError, rawStatus(t, e, "getMe"))
	status, _ = e.sandbox(http.MethodDelete, "/sandbox/faults", "")
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, http.StatusOK, rawStatus(t, e, "getMe"))
	status, _ = e.sandbox(http.MethodPost, "/sandbox/faults", `{"latency":"soon"}`)
	require.Equal(t, http.StatusBadRequest, status)

	status, body = e.sandbox(http.MethodGet, "/sandbox/stats", "")
	require.Equal(t, http.StatusOK, status)
	st := decode[cryptopay.Stats](t, body)
	require.Equal(t, 2, st.Deliveries)
	require.Equal(t, 4, st.Requests["getMe"])

	status, _ = e.sandbox(http.MethodGet, "/sandbox/nothing", "")
	require.Equal(t, http.StatusNotFound, status)
}

// rawStatus calls a method and returns the HTTP status, whatever the body.
func rawStatus(t *testing.T, e *env, method string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.s.URL()+"/api/"+method, nil)
	require.NoError(t, err)
	req.Header.Set("Crypto-Pay-API-Token", token)
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

// statusOf is rawStatus for goroutines: -1 when the call itself fails.
func statusOf(e *env, method string) int {
	req, err := http.NewRequest(http.MethodPost, e.s.URL()+"/api/"+method, nil)
	if err != nil {
		return -1
	}
	req.Header.Set("Crypto-Pay-API-Token", token)
	resp, err := e.client.Do(req)
	if err != nil {
		return -1
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestHangingCallIsReleasedByClearFaultsAndClose(t *testing.T) {
	t.Parallel()
	e := start(t, cryptopay.Config{})

	e.s.Inject(cryptopay.Fault{Method: "getMe", Hang: true})
	done := make(chan int, 2)
	go func() { done <- statusOf(e, "getMe") }()
	require.Eventually(t, func() bool { return e.s.Stats().Requests["getMe"] == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Never(t, func() bool { return len(done) > 0 }, 100*time.Millisecond, 5*time.Millisecond)
	e.s.ClearFaults()
	select {
	case status := <-done:
		require.Equal(t, http.StatusOK, status, "released, then served")
	case <-time.After(5 * time.Second):
		t.Fatal("hung call was not released by ClearFaults")
	}

	e.s.Inject(cryptopay.Fault{Hang: true})
	go func() { done <- statusOf(e, "getMe") }()
	require.Eventually(t, func() bool { return e.s.Stats().Requests["getMe"] == 2 }, 5*time.Second, 5*time.Millisecond)
	closed := make(chan struct{})
	go func() {
		e.s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hung call")
	}
	select {
	case status := <-done:
		require.NotEqual(t, http.StatusOK, status)
	case <-time.After(5 * time.Second):
		t.Fatal("the hung call never returned")
	}
}
