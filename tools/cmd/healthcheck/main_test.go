package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckPassesOnlyOn2xx(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte("postgres: connection refused"))
	}))
	defer srv.Close()

	require.NoError(t, check(context.Background(), srv.URL+"/readyz"))

	status = http.StatusServiceUnavailable
	err := check(context.Background(), srv.URL+"/readyz")
	require.ErrorContains(t, err, "503 Service Unavailable: postgres: connection refused")
}

func TestCheckFailsWhenNothingListens(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	require.Error(t, check(context.Background(), url))
}
