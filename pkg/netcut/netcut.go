// Package netcut is a TCP proxy that can be cut: while cut, its live
// connections are closed and new ones are accepted and closed at once, as a
// server that went away looks to a client; restored, it passes connections
// through again. Tests cut PostgreSQL with it (pgdbtest.NewProxy), and the
// soak (e2e/cmd/soak) cuts the database of a whole running system the same
// way.
package netcut

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Proxy forwards the connections it accepts to one target address. Its
// methods may be called from several goroutines.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu        sync.Mutex
	cut       bool
	conns     map[net.Conn]struct{}
	acceptErr error // why accepting stopped, unless the listener was closed
}

// Listen starts a proxy to target (host:port) on a free 127.0.0.1 port.
func Listen(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting a proxy to %s: %w", target, err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every live connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
	p.closeAll()
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Close stops the proxy, closing every connection, and waits until it is
// done. It reports why the proxy had stopped accepting before, if it had.
func (p *Proxy) Close() error {
	_ = p.ln.Close()
	p.Cut() // connections being set up now are refused too
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acceptErr
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.mu.Lock()
				p.acceptErr = fmt.Errorf("proxy to %s accepting: %w", p.target, err)
				p.mu.Unlock()
			}
			return
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		_ = client.Close()
		return
	}
	defer p.untrackClose(client)
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return // the client sees its connection closed, as with a dead server
	}
	if !p.track(server) {
		_ = server.Close()
		return
	}
	defer p.untrackClose(server)

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Closing both ends stops the other direction too.
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}

// track records c as live, unless the proxy is cut.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrackClose(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}
