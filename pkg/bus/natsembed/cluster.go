package natsembed

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ClusterName is the name of the cluster StartCluster forms.
const ClusterName = "vpnbot"

// metaTimeout bounds how long StartCluster waits for the cluster to elect
// the leader of JetStream's metadata, without which no stream can be
// declared.
const metaTimeout = 30 * time.Second

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	// Nodes is the number of servers, at least 1. One is a lone server, as
	// Start runs it, with no cluster configuration.
	Nodes int
	// Dir holds the stores: a lone server's in Dir itself, node i's of a
	// cluster in Dir/<NodeName(i)>.
	Dir string
	// Port, when set, is node 0's client port, and node i's is Port+i;
	// 0 gives each node a free port. Either way a node keeps its port
	// across Stop and Start.
	Port int
	// Logger turns the servers' own logs (to stderr) on.
	Logger bool
}

// Cluster is a set of embedded servers on 127.0.0.1 that form one NATS
// cluster, with JetStream on each node and routes between every pair.
// Nodes can be stopped and started again one by one, on the same ports and
// stores, as a node's crash and return look to clients and to the other
// nodes. Its methods may be called from several goroutines.
type Cluster struct {
	mu    sync.Mutex
	nodes []*node
}

type node struct {
	opts Options
	url  string
	srv  *server.Server // nil while stopped
}

// StartCluster starts opts.Nodes servers and, for a cluster, waits until
// JetStream has elected its metadata leader, so that streams can be
// declared at once. Shutdown stops it.
func StartCluster(opts ClusterOptions) (*Cluster, error) {
	if opts.Nodes < 1 {
		return nil, fmt.Errorf("starting embedded NATS: %d nodes", opts.Nodes)
	}
	if opts.Dir == "" {
		return nil, errors.New("starting embedded NATS: Dir is required")
	}
	c := &Cluster{nodes: make([]*node, opts.Nodes)}
	var routePorts []int
	var routes []string
	if opts.Nodes > 1 {
		var err error
		if routePorts, err = freePorts(opts.Nodes); err != nil {
			return nil, fmt.Errorf("starting embedded NATS: %w", err)
		}
		for _, p := range routePorts {
			routes = append(routes, "nats-route://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		}
	}
	for i := range c.nodes {
		n := &node{opts: Options{Port: -1, StoreDir: opts.Dir, Logger: opts.Logger}}
		if opts.Port > 0 {
			n.opts.Port = opts.Port + i
		}
		if opts.Nodes > 1 {
			n.opts.StoreDir = filepath.Join(opts.Dir, NodeName(i))
			n.opts.Cluster = &ClusterNode{Name: ClusterName, ServerName: NodeName(i), Port: routePorts[i], Routes: routes}
		}
		c.nodes[i] = n
	}
	for i := range c.nodes {
		if err := c.Start(i); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	if opts.Nodes > 1 {
		if err := c.waitMetaLeader(metaTimeout); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	return c, nil
}

// NodeName is the server name of node i of a cluster, which stream info
// reports as a replica's or the leader's Name.
func NodeName(i int) string { return "nats-" + strconv.Itoa(i) }

// Len is the number of nodes.
func (c *Cluster) Len() int { return len(c.nodes) }

// URL is every node's client URL, comma-separated, as NATS_URL takes them:
// a client connects to any node and moves to another when its node stops.
// It stays the same across Stop and Start.
func (c *Cluster) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = n.url
	}
	return strings.Join(urls, ",")
}

// Stop shuts node i down. Like nats-server on SIGTERM, it first hands the
// leadership of its streams and consumers to the other nodes. Stopping a
// stopped node does nothing.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// Start starts node i, the first time or again after Stop, on the same
// ports and store: it rejoins the cluster and catches up on what it
// missed. It returns once the node accepts clients, which may be before it
// has caught up.
func (c *Cluster) Start(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.srv != nil {
		return fmt.Errorf("starting NATS node %d: already running", i)
	}
	srv, err := Start(n.opts)
	if err != nil {
		return fmt.Errorf("starting NATS node %d: %w", i, err)
	}
	n.srv = srv
	n.opts.Port = srv.Addr().(*net.TCPAddr).Port // a free port chosen once is kept
	n.url = srv.ClientURL()
	return nil
}

// Running reports whether node i is running.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv != nil
}

// StreamLeader is the node that leads stream (of the default account), as
// the nodes themselves tell; false while no running node does: during an
// election, or while too few nodes run for one.
func (c *Cluster) StreamLeader(stream string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.nodes {
		if n.srv != nil && n.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i, true
		}
	}
	return 0, false
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() {
	for i := range c.nodes {
		c.Stop(i)
	}
}

// waitMetaLeader waits until a node leads JetStream's metadata.
func (c *Cluster) waitMetaLeader(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		elected := false
		for _, n := range c.nodes {
			elected = elected || n.srv != nil && n.srv.JetStreamIsLeader()
		}
		c.mu.Unlock()
		if elected {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("embedded NATS cluster: no JetStream metadata leader within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePorts returns n distinct ports of 127.0.0.1 that were free a moment
// ago, for the routes, which every node must know before the first starts.
// They are drawn below Linux's ephemeral range (from 32768), where no
// outgoing connection takes its local port, and held together until all
// are found.
func freePorts(n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for attempt := 0; len(ports) < n; attempt++ {
		if attempt == 100*n {
			return nil, errors.New("no free port for the cluster's routes")
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000))))
		if err != nil {
			continue
		}
		held = append(held, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
