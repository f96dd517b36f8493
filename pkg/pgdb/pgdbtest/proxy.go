package pgdbtest

import (
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/vpnbot/vpnbot/pkg/netcut"
)

// Proxy is a TCP proxy in front of PostgreSQL that a test cuts to simulate an
// outage: while cut, live connections are closed and new ones are accepted
// and closed at once, as a database that went away looks to a client.
type Proxy struct {
	*netcut.Proxy
	t testing.TB
}

// NewProxy starts a proxy to target (host:port) on a free local port. It
// stops, closing every connection, when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := netcut.Listen(target)
	if err != nil {
		t.Fatalf("starting the proxy: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("closing the proxy: %v", err)
		}
	})
	return &Proxy{Proxy: p, t: t}
}

// DSN rewrites dsn (URL or keyword=value form) to go through the proxy.
func (p *Proxy) DSN(dsn string) string {
	host, port, _ := net.SplitHostPort(p.Addr())
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " host=" + host + " port=" + port
	}
	u, err := url.Parse(dsn)
	if err != nil {
		p.t.Fatalf("parsing the DSN to proxy: %v", err)
	}
	u.Host = p.Addr()
	return u.String()
}
