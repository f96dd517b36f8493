package netcut_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/netcut"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoServer answers each line with the same line until the client leaves.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip writes a line on c and reads the answer.
func roundTrip(c net.Conn, line string) (string, error) {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestCutEndsLiveConnectionsAndRefusesNewOnesUntilRestored(t *testing.T) {
	p, err := netcut.Listen(echoServer(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })

	live, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer live.Close()
	got, err := roundTrip(live, "before")
	require.NoError(t, err)
	require.Equal(t, "before\n", got)

	p.Cut()
	_, err = roundTrip(live, "during")
	require.Error(t, err, "a live connection ends with the cut")
	cutOff, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err, "the proxy still accepts, as a host whose server died does")
	_, err = roundTrip(cutOff, "during")
	require.Error(t, err, "a new connection is closed at once")
	cutOff.Close()

	p.Restore()
	again, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer again.Close()
	got, err = roundTrip(again, "after")
	require.NoError(t, err)
	require.Equal(t, "after\n", got)
}
