package xui

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// savedState is what the server keeps across restarts: its inbounds with
// their clients and traffic. Sessions and faults are not kept.
type savedState struct {
	Inbounds []*Inbound `json:"inbounds"`
}

// restore loads Config.StateDir's snapshot, if any, in place of the inbound
// New made, and starts saving.
func (s *Server) restore() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	path := filepath.Join(s.cfg.StateDir, stateFile)
	var st savedState
	found, err := statefile.Read(path, &st)
	if err != nil {
		return fmt.Errorf("restoring the 3x-ui sandbox: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if found {
		s.inbounds = st.Inbounds
		s.log.Info().Int("clients", s.countLocked()).Str("dir", s.cfg.StateDir).Msg("inbounds restored")
	}
	s.saver = statefile.NewSaver(path, s.cfg.SaveInterval, s.snapshot, s.log)
	s.saver.Changed() // a first start writes the inbound New made
	return nil
}

func (s *Server) countLocked() int {
	n := 0
	for _, in := range s.inbounds {
		n += len(in.Clients)
	}
	return n
}

// snapshot is the state as the Saver writes it.
func (s *Server) snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.MarshalIndent(savedState{Inbounds: s.inbounds}, "", "  ")
}

// changedLocked has the change saved within Config.SaveInterval.
func (s *Server) changedLocked() {
	if s.saver != nil {
		s.saver.Changed()
	}
}

// closeState writes the last snapshot.
func (s *Server) closeState() {
	s.mu.Lock()
	saver := s.saver
	s.mu.Unlock()
	if saver == nil {
		return
	}
	if err := saver.Close(); err != nil {
		s.log.Error().Err(err).Msg("saving the inbounds at close failed")
	}
}
