package remnawave

import (
	"errors"
	"fmt"
	"time"
)

// Seed adds users at once, as POST /api/users would one call each, for
// benchmarks of a panel holding many users: a hundred thousand creates
// through the API would take minutes, and the server's lookups by name
// make them quadratic. Of each user given, only Username, Status (default
// ACTIVE), ExpireAt and TrafficLimitBytes are kept; the server gives it
// the next id, a uuid, a shortUuid, credentials and a subscription URL
// under Config.SubscriptionBaseURL, or its own once started. It returns
// the users as the server now holds them, in the order given; a username
// that is not valid or already taken adds none of them.
func (s *Server) Seed(users []User) ([]User, error) {
	base := s.cfg.SubscriptionBaseURL
	if base == "" {
		if s.URL() == "" {
			return nil, errors.New("seeding the remnawave sandbox: start it first, or set a SubscriptionBaseURL")
		}
		base = s.URL() + "/api/sub"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := make(map[string]bool, len(s.order)+len(users))
	for _, id := range s.order {
		taken[s.users[id].Username] = true
	}
	for _, u := range users {
		if !usernamePattern.MatchString(u.Username) || len(u.Username) < 3 || len(u.Username) > 36 {
			return nil, fmt.Errorf("seeding the remnawave sandbox: username %q is not valid", u.Username)
		}
		if taken[u.Username] {
			return nil, fmt.Errorf("seeding the remnawave sandbox: username %q is taken", u.Username)
		}
		taken[u.Username] = true
	}
	now := time.Now().UTC()
	out := make([]User, 0, len(users))
	for _, in := range users {
		u := &User{
			ID: s.nextID, UUID: newUUID(), VlessUUID: newUUID(), ShortUUID: randomHex(8),
			TrojanPassword: randomHex(12), SSPassword: randomHex(16),
			Username: in.Username, Status: in.Status, ExpireAt: in.ExpireAt.UTC(),
			TrafficLimitBytes: in.TrafficLimitBytes, TrafficLimitStrategy: "NO_RESET",
			CreatedAt: now, UpdatedAt: now,
		}
		if u.Status == "" {
			u.Status = StatusActive
		}
		u.SubscriptionURL = base + "/" + u.ShortUUID
		s.nextID++
		s.users[u.UUID] = u
		s.order = append(s.order, u.UUID)
		out = append(out, u.view(now))
	}
	s.reserveLocked()
	s.changedLocked()
	return out, nil
}
