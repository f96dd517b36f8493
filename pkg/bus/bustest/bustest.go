// Package bustest gives tests a real NATS JetStream: an embedded nats-server
// per test that can be stopped and restarted to simulate an outage, or a
// cluster of them whose nodes can be. Only tests import it.
package bustest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

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

// NewCluster starts a cluster of nodes embedded servers for t, each with its
// store under the test's temporary directory, and waits until JetStream can
// declare streams on it. It is shut down when the test ends; connect to its
// URL, which names every node.
func NewCluster(t testing.TB, nodes int) *natsembed.Cluster {
	t.Helper()
	c, err := natsembed.StartCluster(natsembed.ClusterOptions{Nodes: nodes, Dir: t.TempDir()})
	require.NoError(t, err, "starting an embedded NATS cluster of %d", nodes)
	t.Cleanup(func() { require.NoError(t, c.Shutdown(), "stopping the embedded NATS cluster") })
	return c
}

// IgnoreClusterShutdownLeaks are the goleak options of a test binary that
// stops clustered nodes. nats-server 2.15 can leave two goroutines behind
// when a node shuts down while it creates a stream's or consumer's Raft
// group: createRaftGroup returns on startRaftNode's "shutting down" without
// stopping the group's new file store, whose flush loop then runs on, and
// with it the access-time ticker every file store holds registered.
func IgnoreClusterShutdownLeaks() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
	}
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

// Replicas is how many servers keep stream: its leader and the replicas
// stream info lists; 0 while NATS does not say (no such stream, no leader,
// an election of JetStream's metadata leader).
func Replicas(ctx context.Context, js jetstream.JetStream, stream string) int {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	return replicas(s.CachedInfo().Cluster)
}

// ConsumerReplicas is Replicas of a durable of stream.
func ConsumerReplicas(ctx context.Context, js jetstream.JetStream, stream, durable string) int {
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return 0
	}
	return replicas(c.CachedInfo().Cluster)
}

func replicas(c *jetstream.ClusterInfo) int {
	if c == nil || c.Leader == "" {
		return 0
	}
	return 1 + len(c.Replicas)
}

// WaitCurrent waits until stream has a leader and every other server that
// keeps it is online and has caught up with it.
func WaitCurrent(t testing.TB, js jetstream.JetStream, stream string) {
	t.Helper()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info := s.CachedInfo()
		if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != info.Config.Replicas-1 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "the replicas of %s caught up", stream)
}
