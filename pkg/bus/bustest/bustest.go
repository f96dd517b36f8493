// Package bustest gives tests a real NATS JetStream: an embedded nats-server
// per test that can be stopped and restarted to simulate an outage. Only tests
// import it.
package bustest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
)

// Server is an embedded nats-server owned by one test, on a random free port,
// with its JetStream store under the test's temporary directory. It is shut
// down when the test ends.
type Server struct {
	t    testing.TB
	dir  string
	port int
	url  string

	mu  sync.Mutex
	srv *server.Server // nil while stopped
}

// NewServer starts a server for t.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir()}
	srv, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: s.dir})
	require.NoError(t, err, "starting embedded NATS")
	s.srv = srv
	// Restart must come back on the same port so that clients reconnect to it.
	s.port = srv.Addr().(*net.TCPAddr).Port
	s.url = srv.ClientURL()
	t.Cleanup(s.Stop)
	return s
}

// URL is the client URL of the server; it stays the same across Restart.
func (s *Server) URL() string { return s.url }

// Stop shuts the server down and waits for it to finish, as a NATS outage
// would look to clients. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart starts a stopped server again on the same port and store
// directory, so streams, consumers and messages survive.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Nil(s.t, s.srv, "Restart of a running NATS server")
	srv, err := natsembed.Start(natsembed.Options{Port: s.port, StoreDir: s.dir})
	require.NoError(s.t, err, "restarting embedded NATS on port %d", s.port)
	s.srv = srv
}

// Connect opens a client connection to url that reconnects forever (quickly,
// so tests that restart the server stay short) and returns it with its
// JetStream handle. The connection is closed when the test ends.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url,
		nats.Name(t.Name()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.RetryOnFailedConnect(true),
	)
	require.NoError(t, err, "connecting to NATS at %s", url)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err, "creating JetStream handle")
	return nc, js
}
