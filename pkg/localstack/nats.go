package localstack

import (
	"cmp"
	"errors"
	"fmt"
	"net"

	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
)

// startNATS starts the broker for Start, on Config.NATSPort or a free port,
// which StartNATS keeps from then on. It is embedded rather than a process of
// its own so that StopNATS and StartNATS make an outage and its end in an
// instant: the services must reconnect to the same URL and find their
// streams and messages where they left them.
func (s *Stack) startNATS() error {
	port := cmp.Or(s.cfg.NATSPort, -1) // -1: natsembed's "any free port"
	srv, err := natsembed.Start(natsembed.Options{Port: port, StoreDir: s.natsDir})
	if err != nil {
		return fmt.Errorf("starting NATS: %w", err)
	}
	s.nats = srv
	s.natsPort = srv.Addr().(*net.TCPAddr).Port
	s.NATSURL = srv.ClientURL()
	return nil
}

// StopNATS shuts the broker down, as an outage would look to the services.
// Stopping a stopped broker does nothing.
func (s *Stack) StopNATS() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopNATSLocked()
}

func (s *Stack) stopNATSLocked() {
	if s.nats == nil {
		return
	}
	s.nats.Shutdown()
	s.nats.WaitForShutdown()
	s.nats = nil
	s.log.Info().Msg("NATS stopped")
}

// StartNATS starts a stopped broker again on the same port and store, so
// streams, consumers and stored messages survive and clients reconnect.
func (s *Stack) StartNATS() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("starting NATS: the stack is closed")
	}
	if s.nats != nil {
		return errors.New("starting NATS: already running")
	}
	srv, err := natsembed.Start(natsembed.Options{Port: s.natsPort, StoreDir: s.natsDir})
	if err != nil {
		return fmt.Errorf("starting NATS again on port %d: %w", s.natsPort, err)
	}
	s.nats = srv
	s.log.Info().Msg("NATS started again")
	return nil
}
