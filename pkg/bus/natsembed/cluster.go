package natsembed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbot/vpnbot/pkg/freeport"
	"github.com/vpnbot/vpnbot/pkg/procs"
	"github.com/vpnbot/vpnbot/pkg/retry"
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
	// Logger turns the servers' own logs on.
	Logger bool
	// Binary, when set, is the natsnode command (natsembed/natsnode): each
	// node then runs as a process of its own, which Kill can end with
	// SIGKILL, as a crash would, instead of inside this one.
	Binary string
	// Output receives a node process's output, each line prefixed with
	// its NodeName (default os.Stderr).
	Output io.Writer
}

// Cluster is a set of embedded servers on 127.0.0.1 that form one NATS
// cluster, with JetStream on each node and routes between every pair.
// Nodes can be stopped and started again one by one, on the same ports and
// stores, as a node's crash and return look to clients and to the other
// nodes. Its methods may be called from several goroutines.
type Cluster struct {
	binary string
	output io.Writer
	// monitor asks node processes what they lead.
	monitor *http.Client

	mu    sync.Mutex
	nodes []*node
}

type node struct {
	opts Options
	url  string
	srv  *server.Server // nil while stopped, and for a node process
	proc *procs.Proc    // nil while stopped, and for a node in this process
}

// running reports whether n runs, in this process or as its own.
func (n *node) running() bool {
	if n.proc == nil {
		return n.srv != nil
	}
	select {
	case <-n.proc.Done():
		return false
	default:
		return true
	}
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
	c := &Cluster{binary: opts.Binary, output: cmp.Or[io.Writer](opts.Output, os.Stderr), nodes: make([]*node, opts.Nodes)}
	// Routes, and a node process's client and monitoring ports, must be
	// known before the first node starts.
	var routePorts, clientPorts, monitorPorts []int
	if opts.Nodes > 1 {
		routePorts = make([]int, opts.Nodes)
	}
	if opts.Binary != "" {
		c.monitor = &http.Client{Timeout: time.Second}
		clientPorts, monitorPorts = make([]int, opts.Nodes), make([]int, opts.Nodes)
	}
	free, err := freeport.Ports(len(routePorts) + len(clientPorts) + len(monitorPorts))
	if err != nil {
		return nil, fmt.Errorf("starting embedded NATS: %w", err)
	}
	copy(routePorts, free)
	copy(clientPorts, free[len(routePorts):])
	copy(monitorPorts, free[len(routePorts)+len(clientPorts):])
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, "nats-route://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	for i := range c.nodes {
		n := &node{opts: Options{Port: -1, StoreDir: opts.Dir, Logger: opts.Logger}}
		if opts.Binary != "" {
			n.opts.Port, n.opts.MonitorPort = clientPorts[i], monitorPorts[i]
		}
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
			return nil, errors.Join(err, c.Shutdown())
		}
	}
	if opts.Nodes > 1 {
		if err := c.waitMetaLeader(metaTimeout); err != nil {
			return nil, errors.Join(err, c.Shutdown())
		}
		if err := c.waitPlacement(metaTimeout); err != nil {
			return nil, errors.Join(err, c.Shutdown())
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
// stopped node does nothing. A node process that does not stop within a
// grace period is killed, and that is an error, as is one that had
// exited on its own with one.
func (c *Cluster) Stop(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.proc != nil {
		proc := n.proc
		n.proc = nil
		if err := proc.Stop(stopGrace); err != nil {
			return fmt.Errorf("stopping NATS node %d: %w", i, err)
		}
		return nil
	}
	if n.srv == nil {
		return nil
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
	return nil
}

// Kill ends node i's process with SIGKILL, as a crash or a lost machine
// would: unlike Stop, the node hands nothing over, and its peers elect new
// leaders only once their Raft election timeout passes. Only a node
// process can be killed (ClusterOptions.Binary); killing a stopped one
// does nothing.
func (c *Cluster) Kill(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.srv != nil {
		return fmt.Errorf("killing NATS node %d: it runs in this process, not as a process of its own", i)
	}
	if n.proc != nil {
		n.proc.Kill()
		n.proc = nil
	}
	return nil
}

// Start starts node i, the first time or again after Stop or Kill, on the
// same ports and store: it rejoins the cluster and catches up on what it
// missed. It returns once the node accepts clients, which may be before it
// has caught up.
func (c *Cluster) Start(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.running() {
		return fmt.Errorf("starting NATS node %d: already running", i)
	}
	if c.binary != "" {
		return c.startProcess(i, n)
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
	return c.nodes[i].running()
}

// StreamLeader is the node that leads stream (of the default account), as
// the nodes themselves tell; false while no running node does: during an
// election, or while too few nodes run for one.
func (c *Cluster) StreamLeader(stream string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.nodes {
		if !n.running() {
			continue
		}
		if n.srv != nil && n.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) ||
			n.proc != nil && n.leads(c.monitor, stream) {
			return i, true
		}
	}
	return 0, false
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() error {
	var errs []error
	for i := range c.nodes {
		errs = append(errs, c.Stop(i))
	}
	return errors.Join(errs...)
}

// waitMetaLeader waits until a node leads JetStream's metadata.
func (c *Cluster) waitMetaLeader(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		elected := false
		for _, n := range c.nodes {
			elected = elected || n.srv != nil && n.srv.JetStreamIsLeader() || n.proc != nil && n.leadsMeta(c.monitor)
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

// placementProbe is the stream waitPlacement creates and deletes.
const placementProbe = "NATSEMBED_PLACEMENT_PROBE"

// waitPlacement waits until the metadata leader places a stream on every
// node. An elected leader may not yet count the other nodes online (it
// learns of each from its first report), and refuses such a stream with
// "no suitable peers for placement" meanwhile; a caller's first stream
// must not meet that.
func (c *Cluster) waitPlacement(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("embedded NATS cluster: connecting to probe placement: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("embedded NATS cluster: probing placement: %w", err)
	}
	cfg := jetstream.StreamConfig{Name: placementProbe, Subjects: []string{"natsembed.probe"}, Replicas: len(c.nodes)}
	for {
		err := probePlacement(ctx, js, cfg)
		if err == nil {
			return nil
		}
		if !retry.Sleep(ctx, 50*time.Millisecond) {
			return fmt.Errorf("embedded NATS cluster: no stream placed on all %d nodes within %s: %w", len(c.nodes), timeout, err)
		}
	}
}

// probeAttempt bounds one request of waitPlacement: a request the metadata
// leader never answers (it lost the leadership to an election as the
// nodes joined) is asked again instead of using up the whole wait.
const probeAttempt = 3 * time.Second

// probePlacement creates the probe stream and deletes it again, each
// request bounded by probeAttempt.
func probePlacement(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	attempt, cancel := context.WithTimeout(ctx, probeAttempt)
	defer cancel()
	if _, err := js.CreateStream(attempt, cfg); err != nil {
		return err
	}
	attempt, cancel = context.WithTimeout(ctx, probeAttempt)
	defer cancel()
	if err := js.DeleteStream(attempt, placementProbe); err != nil {
		return fmt.Errorf("deleting the placement probe: %w", err)
	}
	return nil
}
