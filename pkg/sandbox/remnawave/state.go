package remnawave

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// Files under Config.StateDir.
const (
	// stateFile is the snapshot of the users, written behind the changes.
	stateFile = "state.json"
	// reservedFile holds the user id reserved ahead of those handed out.
	// It exists while the server runs and is removed by Close after the
	// last snapshot: found at Start, it says the last run was killed, and
	// ids go on past it. A 3.x panel's ids are what the bot records, so one
	// handed out twice would name two users.
	reservedFile = "reserved-ids.json"
	// reserveAhead is how many ids one reservation covers.
	reserveAhead = 1000
	// defaultSaveInterval is Config.SaveInterval's default.
	defaultSaveInterval = time.Second
)

// savedState is what the server keeps across restarts: the users and the
// next id. Requests and faults are not kept. The version is not kept
// either: a restart with another Config.Version is an upgraded panel.
type savedState struct {
	NextID int64  `json:"next_id"`
	Users  []User `json:"users"`
}

// reservation is the id reserved: none at or above it was handed out.
type reservation struct {
	NextID int64 `json:"next_id"`
}

func (s *Server) statePath(name string) string { return filepath.Join(s.cfg.StateDir, name) }

// restore loads Config.StateDir's snapshot, moves the ids past a
// reservation a killed run left, and starts saving.
func (s *Server) restore() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	var st savedState
	found, err := statefile.Read(s.statePath(stateFile), &st)
	if err != nil {
		return fmt.Errorf("restoring the remnawave sandbox: %w", err)
	}
	var left reservation
	killed, err := statefile.Read(s.statePath(reservedFile), &left)
	if err != nil {
		return fmt.Errorf("restoring the remnawave sandbox: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if found {
		slices.SortFunc(st.Users, func(a, b User) int { return cmp.Compare(a.ID, b.ID) })
		for _, u := range st.Users {
			s.users[u.UUID] = &u
			s.order = append(s.order, u.UUID)
			s.nextID = max(s.nextID, u.ID+1)
		}
		s.nextID = max(s.nextID, st.NextID)
	}
	if killed {
		s.nextID = max(s.nextID, left.NextID)
		s.log.Warn().Int64("next_id", s.nextID).
			Msg("the last run was not stopped cleanly: ids go on past its reservation, and its last changes may be lost")
	}
	s.log.Info().Int("users", len(s.order)).Str("dir", s.cfg.StateDir).Msg("users restored")
	s.saver = statefile.NewSaver(s.statePath(stateFile), s.cfg.SaveInterval, s.snapshot, s.log)
	s.reserveLocked()
	return nil
}

// snapshot is the state as the Saver writes it.
func (s *Server) snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := savedState{NextID: s.nextID, Users: make([]User, 0, len(s.order))}
	for _, id := range s.order {
		st.Users = append(st.Users, *s.users[id])
	}
	return json.MarshalIndent(st, "", "  ")
}

// changedLocked has the change saved within Config.SaveInterval.
func (s *Server) changedLocked() {
	if s.saver != nil {
		s.saver.Changed()
	}
}

// reserveLocked writes a new reservation when the ids handed out reach the
// one on disk, before the next id leaves the lock.
func (s *Server) reserveLocked() {
	if s.saver == nil || s.nextID < s.reserved {
		return
	}
	r := reservation{NextID: s.nextID + reserveAhead}
	if err := statefile.Write(s.statePath(reservedFile), r); err != nil {
		s.log.Error().Err(err).Msg("reserving ids failed: a kill now may lead a later run to hand some out again")
		return
	}
	s.reserved = r.NextID
}

// closeState writes the last snapshot and, once it is on disk, removes the
// reservation: the next run goes on from the snapshot's exact ids.
func (s *Server) closeState() {
	if s.saver == nil {
		return
	}
	if err := s.saver.Close(); err != nil {
		s.log.Error().Err(err).Msg("saving the users at close failed; the next run goes on past the reserved ids")
		return
	}
	if err := os.Remove(s.statePath(reservedFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Error().Err(err).Msg("removing the id reservation")
	}
}
