package marzban

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// savedState is what the server keeps across restarts: its secret, so the
// admin and subscription tokens it issued stay valid, and its users.
// Faults and request counts are not kept.
type savedState struct {
	Secret string `json:"secret"`
	NextID int64  `json:"next_id"`
	Users  []User `json:"users"`
}

func (s *Server) statePath() string { return filepath.Join(s.cfg.StateDir, stateFile) }

// restore loads Config.StateDir's snapshot, if any, and starts saving.
func (s *Server) restore() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	var st savedState
	found, err := statefile.Read(s.statePath(), &st)
	if err != nil {
		return fmt.Errorf("restoring the marzban sandbox: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if found {
		s.secret = st.Secret
		s.nextID = max(s.nextID, st.NextID)
		for _, u := range st.Users {
			s.users[u.Username] = &u
			s.nextID = max(s.nextID, u.ID+1)
		}
		s.log.Info().Int("users", len(st.Users)).Str("dir", s.cfg.StateDir).Msg("users restored")
	}
	s.saver = statefile.NewSaver(s.statePath(), s.cfg.SaveInterval, s.snapshot, s.log)
	return nil
}

// snapshot encodes the state for the saver.
func (s *Server) snapshot() ([]byte, error) {
	s.mu.Lock()
	st := savedState{Secret: s.secret, NextID: s.nextID, Users: make([]User, 0, len(s.users))}
	for _, u := range s.sortedLocked() {
		st.Users = append(st.Users, u.clone())
	}
	s.mu.Unlock()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the marzban sandbox state: %w", err)
	}
	return append(b, '\n'), nil
}

// closeState stops the saver after a last write.
func (s *Server) closeState() {
	s.mu.Lock()
	saver := s.saver
	s.mu.Unlock()
	if saver == nil {
		return
	}
	if err := saver.Close(); err != nil {
		s.log.Error().Err(err).Str("dir", s.cfg.StateDir).Msg("saving the marzban sandbox state failed")
	}
}
