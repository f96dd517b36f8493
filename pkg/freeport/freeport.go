// Package freeport hands out 127.0.0.1 ports for the servers a test or a
// local stack starts: free when handed out, and never handed out twice in
// one process, so two stacks started side by side cannot be given the same
// port between its check and its server's bind.
//
// Ports are drawn below Linux's ephemeral range (from 32768), where the
// kernel never picks the local port of an outgoing connection: a port from
// that range can be taken by one of the many connections a stack opens
// before the server it was meant for binds it.
package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

const (
	low   = 20000
	count = 12000
)

var (
	mu     sync.Mutex
	issued = map[int]bool{}
)

// Ports returns n distinct ports that were free a moment ago and that this
// process has not handed out before. They are held together until all are
// found, for servers that must know each other's ports before any starts.
func Ports(n int) ([]int, error) {
	mu.Lock()
	defer mu.Unlock()
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for attempt := 0; len(ports) < n; attempt++ {
		if attempt == 100*n {
			return nil, errors.New("no free port left below the ephemeral range")
		}
		port := low + rand.IntN(count)
		if issued[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		held = append(held, ln)
		ports = append(ports, port)
	}
	for _, p := range ports {
		issued[p] = true
	}
	return ports, nil
}

// Addr returns a 127.0.0.1 address on a port from Ports.
func Addr() (string, error) {
	ports, err := Ports(1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), nil
}
