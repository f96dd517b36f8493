package bus_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/bus/bustest"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
)

// drainSetup connects to a server of its own as a service does, with the
// logger Drain is given.
func drainSetup(t *testing.T) (*bustest.Server, *nats.Conn, *obstest.LogBuffer, zerolog.Logger) {
	t.Helper()
	srv := bustest.NewServer(t)
	logs, log := newLog()
	nc, _, err := bus.Connect(t.Context(), srv.URL(), "drain-test", log)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return srv, nc, logs, log
}

// blockingSub subscribes nc to "work" with a handler that waits for release
// before it counts a message as handled, publishes n messages there from
// another connection, and returns once the handler holds the first.
func blockingSub(t *testing.T, srv *bustest.Server, nc *nats.Conn, n int, release <-chan struct{}) (*nats.Subscription, *atomic.Int32) {
	t.Helper()
	entered := make(chan struct{}, 1)
	var handled atomic.Int32
	sub, err := nc.Subscribe("work", func(*nats.Msg) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		handled.Add(1)
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush(), "the server knows the subscription before anyone publishes")

	pub, _ := bustest.Connect(t, srv.URL())
	for range n {
		require.NoError(t, pub.Publish("work", []byte("job")))
	}
	require.NoError(t, pub.Flush())
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the first message never reached the handler")
	}
	return sub, &handled
}

func TestDrainHandlesWhatWasDeliveredBeforeClosing(t *testing.T) {
	t.Parallel()
	srv, nc, logs, log := drainSetup(t)
	release := make(chan struct{})
	sub, handled := blockingSub(t, srv, nc, 3, release)
	// Pending counts the message in the handler too.
	require.Eventually(t, func() bool { n, _, _ := sub.Pending(); return n == 3 }, 5*time.Second, 10*time.Millisecond,
		"two messages wait behind the one being handled")

	done := make(chan struct{})
	go func() {
		defer close(done)
		bus.Drain(nc, 5*time.Second, log)
	}()
	require.Eventually(t, nc.IsDraining, 5*time.Second, time.Millisecond)
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not return")
	}
	require.True(t, nc.IsClosed())
	require.EqualValues(t, 3, handled.Load(), "Close would have dropped the two waiting messages")
	require.Empty(t, logs.Lines(`"level":"warn"`))
}

func TestDrainGivesUpAfterTheTimeout(t *testing.T) {
	t.Parallel()
	srv, nc, logs, log := drainSetup(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // the handler is let go only once Drain has given up
	blockingSub(t, srv, nc, 1, release)

	// The handler never returns, so only the timeout can end the drain
	// (nats.go's own drain timeout is 30 s).
	bus.Drain(nc, 200*time.Millisecond, log)
	require.True(t, nc.IsClosed())
	require.Len(t, logs.Lines("draining the NATS connection timed out", `"timeout":200`), 1)
}

func TestDrainClosesAConnectionThatIsDown(t *testing.T) {
	t.Parallel()
	srv, nc, logs, log := drainSetup(t)
	srv.Stop()
	require.Eventually(t, func() bool { return nc.Status() == nats.RECONNECTING }, 5*time.Second, 10*time.Millisecond)

	bus.Drain(nc, 5*time.Second, log)
	require.True(t, nc.IsClosed())
	require.Len(t, logs.Lines("could not drain the NATS connection"), 1)
}

// TestConnectNoticesAVanishedNodeWithinSeconds checks the pings that tell a
// client its node is gone when no TCP connection was closed: nats.go's
// defaults (2 min × 2) would take minutes.
func TestConnectNoticesAVanishedNodeWithinSeconds(t *testing.T) {
	t.Parallel()
	_, nc, _, _ := drainSetup(t)
	silentFor := nc.Opts.PingInterval * time.Duration(nc.Opts.MaxPingsOut+1)
	require.LessOrEqual(t, silentFor, 30*time.Second, "a silent node is given up within %s", silentFor)
	require.GreaterOrEqual(t, nc.Opts.MaxPingsOut, 2, "one late pong is not a dead node")
}
