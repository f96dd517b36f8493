package fault_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTakeMatchesRouteThenExtraInInjectionOrder(t *testing.T) {
	t.Parallel()
	in := fault.New[int64](fault.FoldCase)
	in.Inject(fault.Fault{Route: "sendMessage", Status: http.StatusForbidden}, 7)
	in.Inject(fault.Fault{Route: "SENDMESSAGE", Status: http.StatusBadGateway}, 0)
	in.Inject(fault.Fault{Status: http.StatusInternalServerError}, 0)
	chat := func(id int64) func(int64) bool {
		return func(x int64) bool { return x == 0 || x == id }
	}

	f, ok := in.Take("sendmessage", chat(7))
	require.True(t, ok)
	require.Equal(t, http.StatusForbidden, f.Status, "the first fault injected wins")
	require.Equal(t, int64(7), f.Extra, "the sandbox gets its extra back")

	f, ok = in.Take("sendMessage", chat(8))
	require.True(t, ok)
	require.Equal(t, http.StatusBadGateway, f.Status, "another chat skips the chat's fault; case is ignored")

	f, ok = in.Take("getMe", nil)
	require.True(t, ok)
	require.Equal(t, http.StatusInternalServerError, f.Status, "an empty route matches any")
}

func TestExactCaseRoutes(t *testing.T) {
	t.Parallel()
	in := fault.New[struct{}](fault.ExactCase)
	in.Inject(fault.Fault{Route: "getInvoices", Status: http.StatusServiceUnavailable}, struct{}{})

	_, ok := in.Take("getinvoices", nil)
	require.False(t, ok, "another case is another method")
	f, ok := in.Take("getInvoices", nil)
	require.True(t, ok)
	require.Equal(t, http.StatusServiceUnavailable, f.Status)
}

func TestTimesCountsMatchingCallsOnly(t *testing.T) {
	t.Parallel()
	in := fault.New[struct{}](fault.FoldCase)
	in.Inject(fault.Fault{Route: "POST /api/users", Status: http.StatusBadGateway, Times: 2}, struct{}{})

	_, ok := in.Take("GET /api/users", nil)
	require.False(t, ok, "another route is served and not counted")
	for i := range 2 {
		_, ok = in.Take("POST /api/users", nil)
		require.True(t, ok, "call %d fails", i+1)
	}
	_, ok = in.Take("POST /api/users", nil)
	require.False(t, ok, "the third call is served")

	in.Inject(fault.Fault{Status: http.StatusBadGateway}, struct{}{})
	for range 3 {
		_, ok = in.Take("POST /api/users", nil)
		require.True(t, ok, "Times 0 lasts until cleared")
	}
	in.Clear()
	_, ok = in.Take("POST /api/users", nil)
	require.False(t, ok, "Clear removes every fault")
}

func TestWaitPlaysLatencyThenAnswers(t *testing.T) {
	t.Parallel()
	in := fault.New[struct{}](fault.FoldCase)
	in.Inject(fault.Fault{Latency: 50 * time.Millisecond, Status: http.StatusServiceUnavailable, ServeFirst: true}, struct{}{})

	f, ok := in.Take("any", nil)
	require.True(t, ok)
	require.True(t, f.ServeFirst)
	began := time.Now()
	require.NoError(t, f.Wait(context.Background()))
	require.GreaterOrEqual(t, time.Since(began), 50*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, f.Wait(ctx), fault.ErrAbandoned, "a call that went away abandons the latency")
}

// waitAsync plays f in the background and returns where its result arrives.
func waitAsync(f fault.Active[struct{}]) <-chan error {
	done := make(chan error, 1)
	go func() { done <- f.Wait(context.Background()) }()
	return done
}

func TestHangReleasedByClear(t *testing.T) {
	t.Parallel()
	in := fault.New[struct{}](fault.FoldCase)
	in.Inject(fault.Fault{Hang: true, Status: http.StatusBadGateway}, struct{}{})
	f, ok := in.Take("any", nil)
	require.True(t, ok)
	done := waitAsync(f)

	select {
	case err := <-done:
		t.Fatalf("a hang ended by itself: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	in.Clear()
	select {
	case err := <-done:
		require.NoError(t, err, "a released call answers with its Status")
	case <-time.After(5 * time.Second):
		t.Fatal("Clear did not release the hang")
	}

	in.Inject(fault.Fault{Hang: true}, struct{}{})
	later, ok := in.Take("any", nil)
	require.True(t, ok)
	done = waitAsync(later)
	select {
	case err := <-done:
		t.Fatalf("an earlier Clear released a later hang: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	in.Clear()
	require.NoError(t, <-done)
}

func TestHangAbandonedByClose(t *testing.T) {
	t.Parallel()
	in := fault.New[struct{}](fault.FoldCase)
	in.Inject(fault.Fault{Hang: true}, struct{}{})
	f, ok := in.Take("any", nil)
	require.True(t, ok)
	done := waitAsync(f)

	in.Close()
	in.Close() // closing twice is allowed
	select {
	case err := <-done:
		require.ErrorIs(t, err, fault.ErrAbandoned)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hang")
	}
	require.ErrorIs(t, f.Wait(context.Background()), fault.ErrAbandoned, "waits after Close end at once")
}

func TestHandleControl(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	var got []fault.Fault
	cleared := 0
	fault.HandleControl(mux, func(f fault.Fault) { got = append(got, f) }, func() { cleared++ })
	call := func(method, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(method, "/sandbox/faults", strings.NewReader(body)))
		return w
	}

	require.Equal(t, http.StatusNoContent, call(http.MethodPost,
		`{"route":"PUT /access-keys/{id}","latency":"250ms","status":503,"hang":true,"times":2,"serve_first":true}`).Code)
	require.Equal(t, http.StatusNoContent, call(http.MethodPost, `{"latency":1.5}`).Code)
	require.Equal(t, []fault.Fault{
		{Route: "PUT /access-keys/{id}", Latency: 250 * time.Millisecond, Status: 503, Hang: true, Times: 2, ServeFirst: true},
		{Latency: 1500 * time.Microsecond},
	}, got, "latency is a duration or milliseconds")

	for _, body := range []string{`{"latency":"soon"}`, `{"latency":true}`, `{`} {
		w := call(http.MethodPost, body)
		require.Equal(t, http.StatusBadRequest, w.Code, body)
		require.Contains(t, w.Body.String(), `"error":"reading JSON body: `, body)
	}
	require.Len(t, got, 2, "bad bodies inject nothing")

	require.Equal(t, http.StatusNoContent, call(http.MethodDelete, "").Code)
	require.Equal(t, 1, cleared)
}
