// Package natsembed runs nats-server with JetStream inside the current
// process, for `make run` and for tests: the real broker, no separate binary.
// Start runs one server; StartCluster runs several as one cluster, each
// with its own store, that can be stopped and started one at a time, in
// this process or, to be killed as by a crash, each as a process of its own
// (NodeEnv).
package natsembed

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds how long Start waits for the server to accept clients.
const readyTimeout = 10 * time.Second

// Options configure the embedded server.
type Options struct {
	// Host is the interface to listen on; empty means 127.0.0.1, so a
	// development broker is never exposed by accident.
	Host string
	// Port is the client port; -1 picks a random free port.
	Port int
	// StoreDir is where JetStream keeps its files; reuse it to keep the data
	// across restarts.
	StoreDir string
	// Logger turns the server's own log (to stderr) on.
	Logger bool
	// MonitorPort, when set, serves nats-server's monitoring endpoints
	// (/jsz, /healthz…) on Host: how a node that runs as a process of its
	// own tells which streams it leads.
	MonitorPort int
	// Cluster, when set, makes the server one node of a cluster.
	Cluster *ClusterNode
}

// ClusterNode is a server's place in a cluster: every node of one cluster
// has the same Name and Routes, and its own ServerName and Port.
type ClusterNode struct {
	// Name is the cluster's name.
	Name string
	// ServerName names this node. JetStream knows its peers by name, so it
	// must stay the same across restarts on the same store.
	ServerName string
	// Port is where this node listens, on Options.Host, for the other
	// nodes' routes.
	Port int
	// Routes are the route URLs of the nodes (nats-route://host:port); the
	// node's own is allowed, and skipped.
	Routes []string
}

// Start starts the server and waits until it accepts connections. The caller
// shuts it down with Shutdown (and WaitForShutdown to wait for its goroutines).
// A node of a cluster accepts connections before its cluster has elected
// the leaders JetStream needs; its clients wait or retry meanwhile.
func Start(opts Options) (*server.Server, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("starting embedded NATS: StoreDir is required")
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	sopts := &server.Options{
		Host:      host,
		Port:      opts.Port,
		JetStream: true,
		StoreDir:  opts.StoreDir,
		NoSigs:    true, // the host process owns signal handling
	}
	if opts.MonitorPort > 0 {
		sopts.HTTPHost = host
		sopts.HTTPPort = opts.MonitorPort
	}
	if c := opts.Cluster; c != nil {
		sopts.ServerName = c.ServerName
		sopts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: c.Port}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("starting embedded NATS: route %q: %w", r, err)
			}
			sopts.Routes = append(sopts.Routes, u)
		}
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("creating embedded NATS server: %w", err)
	}
	if opts.Logger {
		srv.ConfigureLogger()
	}
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded NATS server on %s:%d not ready within %s", host, opts.Port, readyTimeout)
	}
	return srv, nil
}
