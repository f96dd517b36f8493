package fakehttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

func TestAPICountsCallsAndPlaysFaultsBeforeOrAfterTheRoute(t *testing.T) {
	t.Parallel()
	faults := fault.New[struct{}](fault.FoldCase)
	t.Cleanup(faults.Close)
	api := fakehttp.NewAPI(faults, func(status int, abandoned bool) fakehttp.Reply {
		return fakehttp.Reply{Status: status, Body: map[string]bool{"abandoned": abandoned}}
	})
	served := 0
	api.Route("POST /users", func(*http.Request) fakehttp.Reply {
		served++
		return fakehttp.Reply{Status: http.StatusCreated, Body: map[string]int{"served": served}}
	})
	api.Route("DELETE /users", func(*http.Request) fakehttp.Reply { return fakehttp.Reply{Status: http.StatusNoContent} })
	call := func(ctx context.Context, method string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		api.Mux.ServeHTTP(w, httptest.NewRequestWithContext(ctx, method, "/users", nil))
		return w
	}

	require.Equal(t, http.StatusCreated, call(t.Context(), http.MethodPost).Code)
	faults.Inject(fault.Fault{Route: "post /users", Status: http.StatusBadGateway, Times: 1}, struct{}{})
	w := call(t.Context(), http.MethodPost)
	require.Equal(t, http.StatusBadGateway, w.Code)
	require.JSONEq(t, `{"abandoned":false}`, w.Body.String())
	require.Equal(t, 1, served, "a fault played first keeps the route from acting")

	faults.Inject(fault.Fault{Route: "POST /users", Status: http.StatusInternalServerError, Times: 1, ServeFirst: true}, struct{}{})
	require.Equal(t, http.StatusInternalServerError, call(t.Context(), http.MethodPost).Code)
	require.Equal(t, 2, served, "served first: the route acted, its answer was lost")

	faults.Inject(fault.Fault{Route: "POST /users", Hang: true, Times: 1}, struct{}{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	w = call(ctx, http.MethodPost)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.JSONEq(t, `{"abandoned":true}`, w.Body.String(), "a call that hung until its client left")

	w = call(t.Context(), http.MethodDelete)
	require.Equal(t, http.StatusNoContent, w.Code)
	require.Empty(t, w.Body.String(), "no body is no body, not null")
	require.Equal(t, 4, api.Requests("POST /users"))
	require.Equal(t, 5, api.Requests(""), "failed calls count too")
}
