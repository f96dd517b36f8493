// Package natsembed runs nats-server with JetStream inside the current
// process, for `make run` and for tests: the real broker, no separate binary.
package natsembed

import (
	"errors"
	"fmt"
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
}

// Start starts the server and waits until it accepts connections. The caller
// shuts it down with Shutdown (and WaitForShutdown to wait for its goroutines).
func Start(opts Options) (*server.Server, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("starting embedded NATS: StoreDir is required")
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	srv, err := server.NewServer(&server.Options{
		Host:      host,
		Port:      opts.Port,
		JetStream: true,
		StoreDir:  opts.StoreDir,
		NoSigs:    true, // the host process owns signal handling
	})
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
