package main

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRunRequiresTheTokens(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", "")
	t.Setenv("CRYPTOPAY_TOKEN", "sandbox")
	require.ErrorContains(t, run(context.Background()), "TELEGRAM_BOT_TOKEN")
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestRunServesTheFakesUntilStopped(t *testing.T) {
	tg, cp, rw := freeAddr(t), freeAddr(t), freeAddr(t)
	t.Setenv("TELEGRAM_BOT_TOKEN", "123456:sandbox")
	t.Setenv("CRYPTOPAY_TOKEN", "sandbox")
	t.Setenv("TELEGRAM_ADDR", tg)
	t.Setenv("CRYPTOPAY_ADDR", cp)
	t.Setenv("REMNAWAVE_ADDR", rw)
	t.Setenv("REMNAWAVE_TOKEN", "panel-token")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()

	get := func(url, token string) int {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The compose healthcheck's URL, and each fake's own API with its token.
	require.Eventually(t, func() bool { return get("http://"+tg+"/sandbox/stats", "") == http.StatusOK }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, http.StatusOK, get("http://"+tg+"/bot123456:sandbox/getMe", ""))
	require.Equal(t, http.StatusUnauthorized, get("http://"+tg+"/bot999:other/getMe", ""))
	require.Equal(t, http.StatusOK, get("http://"+cp+"/sandbox/stats", ""))
	require.Equal(t, http.StatusOK, get("http://"+rw+"/api/users", "panel-token"))

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}
