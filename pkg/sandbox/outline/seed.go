package outline

import (
	"fmt"
	"net/http"
)

// Seed adds keys at once, as PUT /access-keys/{id} would one call each, for
// benchmarks of a server holding many keys. Of each key given, only ID and
// Name are kept; the server gives it a password and an access URL on its
// port, as the call would. It returns the keys as the server now holds
// them, in the order given; an id already taken adds none of them.
func (s *Server) Seed(keys []Key) ([]Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k.ID == "" || taken[k.ID] || s.keys[k.ID] != nil {
			return nil, fmt.Errorf("seeding the outline sandbox: key id %q is empty or taken", k.ID)
		}
		taken[k.ID] = true
	}
	out := make([]Key, 0, len(keys))
	rp := s.changeLocked(func() reply {
		for _, k := range keys {
			s.addLocked(k.ID, keyParams{Name: &k.Name})
			out = append(out, s.keys[k.ID].clone())
		}
		return reply{Status: http.StatusCreated}
	})
	if rp.Status != http.StatusCreated {
		return nil, fmt.Errorf("seeding the outline sandbox: %d %v", rp.Status, rp.Body)
	}
	return out, nil
}
