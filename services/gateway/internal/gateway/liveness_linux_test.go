package gateway_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

func TestLivenessFailsWhenTheWebhookServerDies(t *testing.T) {
	t.Parallel()
	h := startGateway(t, nil)
	require.NoError(t, h.ops.Live(context.Background()))

	killListener(t, h.addr)
	require.Eventually(t, func() bool { return h.ops.Live(context.Background()) != nil }, 5*time.Second, 10*time.Millisecond,
		"liveness must fail once the webhook server stopped serving")
	require.ErrorContains(t, h.ops.Live(context.Background()), "webhook_server")
	require.ErrorContains(t, h.stop(), "serving webhook_server", "a dead webhook server fails the gateway")
	require.Contains(t, h.logs.String(), obs.EventLivenessCheckFailed)
	h.runErr = nil // the failure was the point; keep the cleanup quiet
}

// killListener takes the listening socket on addr away from the server that
// owns it, which listened on its own: shut down, the socket fails the
// server's next accept.
func killListener(t *testing.T, addr string) {
	t.Helper()
	_, portText, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, f := range fds {
		fd, err := strconv.Atoi(f.Name())
		if err != nil {
			continue
		}
		sa, err := syscall.Getsockname(fd)
		if in4, ok := sa.(*syscall.SockaddrInet4); err != nil || !ok || in4.Port != port {
			continue
		}
		// The connections the server accepted share its port; only the
		// listener accepts.
		if listening, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err != nil || listening != 1 {
			continue
		}
		require.NoError(t, syscall.Shutdown(fd, syscall.SHUT_RDWR))
		return
	}
	t.Fatalf("nothing listens on %s", addr)
}
