package natsembed_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartServesJetStreamOnLoopback(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	require.True(t, strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:"), "a development broker listens on loopback only: %s", srv.ClientURL())
	require.True(t, srv.JetStreamEnabled())

	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	require.True(t, nc.IsConnected())
}

func TestStartNeedsStoreDir(t *testing.T) {
	_, err := natsembed.Start(natsembed.Options{Port: -1})
	require.ErrorContains(t, err, "StoreDir")
}
