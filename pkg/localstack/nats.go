package localstack

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/vpnbot/vpnbot/pkg/bus/natsembed"
	"github.com/vpnbot/vpnbot/pkg/procs"
)

// startNATS starts the broker for Start: Config.NATSNodes embedded servers,
// on Config.NATSPort (node i on NATSPort+i) or free ports, which they keep
// from then on. They run inside this process unless Config.NATSProcesses,
// so that StopNATS and StartNATS, or StopNATSNode and StartNATSNode, make an
// outage and its end in an instant: the services must reconnect to the same
// URLs and find their streams and messages where they left them.
func (s *Stack) startNATS() error {
	opts := natsembed.ClusterOptions{Nodes: s.cfg.NATSNodes, Dir: s.natsDir, Port: s.cfg.NATSPort, Output: s.cfg.Output}
	if s.cfg.NATSProcesses {
		opts.Binary = filepath.Join(s.cfg.BinDir, natsNodeBinary)
	}
	c, err := natsembed.StartCluster(opts)
	if err != nil {
		return fmt.Errorf("starting NATS: %w", err)
	}
	s.nats = c
	s.NATSURL = c.URL()
	return nil
}

// natsNodeBinary is the binary of Config.NATSProcesses in Config.BinDir.
const natsNodeBinary = "natsnode"

// BuildNATSNode compiles the command that runs one NATS node as a process
// of its own (pkg/bus/natsembed/natsnode) of the repository at root into
// binDir, where Config.NATSProcesses looks for it.
func BuildNATSNode(ctx context.Context, root, binDir string) error {
	return procs.BuildPackage(ctx, filepath.Join(root, "pkg", "bus", "natsembed", natsNodeBinary), filepath.Join(binDir, natsNodeBinary))
}

// StopNATS shuts the broker down, every node of it, as an outage would look
// to the services. Stopping a stopped broker does nothing.
func (s *Stack) StopNATS() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopNATSLocked()
}

func (s *Stack) stopNATSLocked() error {
	if s.nats == nil {
		return nil
	}
	err := s.nats.Shutdown()
	s.log.Info().Msg("NATS stopped")
	return err
}

// StartNATS starts a stopped broker again, every node that is stopped, on
// the same ports and stores, so streams, consumers and stored messages
// survive and clients reconnect.
func (s *Stack) StartNATS() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("starting NATS: the stack is closed")
	}
	started := 0
	for i := range s.nats.Len() {
		if s.nats.Running(i) {
			continue
		}
		if err := s.nats.Start(i); err != nil {
			return err
		}
		started++
	}
	if started == 0 {
		return errors.New("starting NATS: already running")
	}
	s.log.Info().Msg("NATS started again")
	return nil
}

// StopNATSNode stops node i (0 ≤ i < Config.NATSNodes) of the broker, as
// nats-server stops on SIGTERM: it first hands the leadership of its
// streams and consumers to the other nodes, then closes its connections,
// and the services connected to it move to another node of NATSURL. With
// STREAM_REPLICAS=3 on three nodes the streams go on while a majority
// runs. Stopping a stopped node does nothing.
func (s *Stack) StopNATSNode(i int) error {
	if err := s.checkNode(i); err != nil {
		return err
	}
	if err := s.nats.Stop(i); err != nil {
		return err
	}
	s.log.Info().Str("node", natsembed.NodeName(i)).Msg("NATS node stopped")
	return nil
}

// KillNATSNode kills node i's process with SIGKILL (Config.NATSProcesses),
// as a crash or a lost machine would: it hands nothing over, so the other
// nodes go on only once they have elected new leaders, after their Raft
// election timeout. Killing a stopped node does nothing.
func (s *Stack) KillNATSNode(i int) error {
	if err := s.checkNode(i); err != nil {
		return err
	}
	if err := s.nats.Kill(i); err != nil {
		return err
	}
	s.log.Info().Str("node", natsembed.NodeName(i)).Msg("NATS node killed")
	return nil
}

// StartNATSNode starts node i again, after StopNATSNode or KillNATSNode,
// on its ports and store: it rejoins the cluster and catches up on what it
// missed, which may take a moment after it returns (stream info tells when
// each replica is current).
func (s *Stack) StartNATSNode(i int) error {
	if err := s.checkNode(i); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("starting NATS: the stack is closed")
	}
	if err := s.nats.Start(i); err != nil {
		return err
	}
	s.log.Info().Str("node", natsembed.NodeName(i)).Msg("NATS node started again")
	return nil
}

// NATSStreamLeader is the node that leads stream; false while none does (an
// election, or too few nodes running). Stream info names the same node as
// its Cluster.Leader, natsembed.NodeName(i).
func (s *Stack) NATSStreamLeader(stream string) (int, bool) {
	return s.nats.StreamLeader(stream)
}

func (s *Stack) checkNode(i int) error {
	if i < 0 || i >= s.nats.Len() {
		return fmt.Errorf("NATS node %d: the stack runs nodes 0 to %d", i, s.nats.Len()-1)
	}
	return nil
}
