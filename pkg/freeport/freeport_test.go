package freeport_test

import (
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/freeport"
)

// Ports asked for at once by many goroutines, as by stacks starting side
// by side, are all distinct, free and below the ephemeral range.
func TestPortsAreNeverHandedOutTwice(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ports, err := freeport.Ports(10)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ports {
				if seen[p] {
					t.Errorf("port %d handed out twice", p)
				}
				seen[p] = true
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, 200)
	for p := range seen {
		require.Less(t, p, 32768)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		require.NoError(t, err, "port %d is free", p)
		require.NoError(t, ln.Close())
	}
	addr, err := freeport.Addr()
	require.NoError(t, err)
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	require.False(t, seen[n], "Addr's port is not one handed out before")
}
