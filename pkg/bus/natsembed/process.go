package natsembed

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/procs"
)

// stopGrace is how long a node process gets to shut down after SIGTERM
// before it is killed: it hands its leaderships over first.
const stopGrace = 15 * time.Second

// NodeEnv is the environment of a node that runs as a process of its own
// (ClusterOptions.Binary, the command natsembed/natsnode): the Options of
// Start, which the Cluster writes with config.Environ and the command
// reads back with config.Load, so that both ends share one definition.
// Each field is the field of Options, or of its ClusterNode, of the same
// name; a node process also serves the monitoring endpoints.
type NodeEnv struct {
	Port        int      `env:"NATSNODE_PORT"`
	MonitorPort int      `env:"NATSNODE_MONITOR_PORT"`
	StoreDir    string   `env:"NATSNODE_STORE_DIR"`
	Logger      bool     `env:"NATSNODE_LOGGER"`
	ClusterName string   `env:"NATSNODE_CLUSTER_NAME"`
	ServerName  string   `env:"NATSNODE_SERVER_NAME"`
	ClusterPort int      `env:"NATSNODE_CLUSTER_PORT"`
	Routes      []string `env:"NATSNODE_ROUTES"`
}

// Validate checks what a node process cannot pick for itself: its ports
// stay the same across restarts, so its peers' routes and its clients'
// URLs find it again.
func (e *NodeEnv) Validate() error {
	if e.Port <= 0 || e.MonitorPort <= 0 {
		return errors.New("NATSNODE_PORT and NATSNODE_MONITOR_PORT are required")
	}
	return nil
}

// Options are the Options of Start that e describes.
func (e NodeEnv) Options() Options {
	opts := Options{Port: e.Port, MonitorPort: e.MonitorPort, StoreDir: e.StoreDir, Logger: e.Logger}
	if e.ClusterName != "" {
		opts.Cluster = &ClusterNode{Name: e.ClusterName, ServerName: e.ServerName, Port: e.ClusterPort, Routes: e.Routes}
	}
	return opts
}

// nodeEnv is the NodeEnv that describes opts.
func nodeEnv(opts Options) NodeEnv {
	e := NodeEnv{Port: opts.Port, MonitorPort: opts.MonitorPort, StoreDir: opts.StoreDir, Logger: opts.Logger}
	if c := opts.Cluster; c != nil {
		e.ClusterName, e.ServerName, e.ClusterPort, e.Routes = c.Name, c.ServerName, c.Port, c.Routes
	}
	return e
}

// startProcess starts node i as a process of c.binary and waits until it
// accepts clients; c.mu held.
func (c *Cluster) startProcess(i int, n *node) error {
	proc, err := procs.Start(NodeName(i), c.binary, config.Environ(nodeEnv(n.opts)), c.output)
	if err != nil {
		return fmt.Errorf("starting NATS node %d: %w", i, err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.opts.Port))
	for deadline := time.Now().Add(readyTimeout); ; {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			break
		}
		select {
		case <-proc.Done():
			return fmt.Errorf("starting NATS node %d: exited: %v", i, proc.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			proc.Kill()
			return fmt.Errorf("starting NATS node %d: not accepting clients on %s within %s", i, addr, readyTimeout)
		}
	}
	n.proc = proc
	n.url = "nats://" + addr
	return nil
}

// leads reports whether node process n leads stream, as its monitoring
// endpoint tells: with stream-leader-only, /jsz lists the streams whose
// leader, as the node itself knows it, is the node.
func (n *node) leads(client *http.Client, stream string) bool {
	info, ok := n.jsz(client, url.Values{"accounts": {"true"}, "streams": {"true"}, "stream-leader-only": {"true"}})
	if !ok {
		return false
	}
	for _, acc := range info.AccountDetails {
		for _, st := range acc.Streams {
			if acc.Id == server.DEFAULT_GLOBAL_ACCOUNT && st.Name == stream {
				return true
			}
		}
	}
	return false
}

// leadsMeta reports whether node process n leads JetStream's metadata.
func (n *node) leadsMeta(client *http.Client) bool {
	info, ok := n.jsz(client, nil)
	return ok && info.Meta != nil && n.opts.Cluster != nil && info.Meta.Leader == n.opts.Cluster.ServerName
}

// jsz is node process n's /jsz with query q; false when it does not answer.
func (n *node) jsz(client *http.Client, q url.Values) (*server.JSInfo, bool) {
	u := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.opts.MonitorPort)) + "/jsz?" + q.Encode()
	resp, err := client.Get(u)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var info server.JSInfo
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&info) != nil {
		return nil, false
	}
	return &info, true
}
