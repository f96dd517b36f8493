package remnawave

import (
	"slices"
	"time"
)

// The Drift methods change a user behind the bot's back, as an operator in
// the panel's UI would, for reconciliation tests. Each reports false when
// there is no user of that name.

// DriftDelete deletes the user.
func (s *Server) DriftDelete(username string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byUsernameLocked(username)
	if u == nil {
		return false
	}
	s.deleteLocked(u.UUID)
	return true
}

// DriftDisable disables the user.
func (s *Server) DriftDisable(username string) bool {
	return s.drift(username, func(u *User) { u.Status = StatusDisabled })
}

// DriftExpiry moves the user's expiry to t; a t in the past makes the user
// read EXPIRED, as the panel's own job would mark it.
func (s *Server) DriftExpiry(username string, t time.Time) bool {
	return s.drift(username, func(u *User) { u.ExpireAt = t.UTC() })
}

func (s *Server) drift(username string, change func(*User)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byUsernameLocked(username)
	if u == nil {
		return false
	}
	change(u)
	u.UpdatedAt = time.Now().UTC()
	s.changedLocked()
	return true
}

// deleteLocked removes the user of uuid id.
func (s *Server) deleteLocked(id string) {
	delete(s.users, id)
	s.order = slices.DeleteFunc(s.order, func(o string) bool { return o == id })
	s.changedLocked()
}
