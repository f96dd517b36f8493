package outline

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// KeyWorks reports whether an Outline client given accessURL, an ss:// key
// as the API hands it out, would connect: its method and password are a
// key's on this server at its port, and the key is not blocked by its data
// limit. A deleted or rotated key's URL does not work.
func (s *Server) KeyWorks(accessURL string) bool {
	method, password, port, ok := parseAccessURL(accessURL)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k.Method == method && k.Password == password && k.Port == port {
			return !k.Blocked()
		}
	}
	return false
}

// parseAccessURL reads an ss:// URL in the SIP002 form shadowbox hands
// out: ss://base64url(method:password)@host:port/?outline=1.
func parseAccessURL(accessURL string) (method, password string, port int, ok bool) {
	u, err := url.Parse(accessURL)
	if err != nil || u.Scheme != "ss" || u.User == nil {
		return "", "", 0, false
	}
	userInfo, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(u.User.Username(), "="))
	if err != nil {
		return "", "", 0, false
	}
	method, password, ok = strings.Cut(string(userInfo), ":")
	if !ok {
		return "", "", 0, false
	}
	port, err = strconv.Atoi(u.Port())
	return method, password, port, err == nil
}

// Accounts counts the keys.
func (s *Server) Accounts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// DriftDelete deletes the key named name (its id, or else its name) behind
// the bot's back, as an operator would in the Outline Manager; false when
// there is no such key.
func (s *Server) DriftDelete(name string) bool {
	return s.drift(name, func(k *Key) { s.deleteLocked(k.ID) })
}

// DriftDisable sets the key's data limit to 0 bytes, the Outline Manager's
// way to switch a key off; false when there is no such key.
func (s *Server) DriftDisable(name string) bool {
	return s.drift(name, func(k *Key) {
		var zero int64
		k.DataLimit = &zero
	})
}

// DriftExpiry changes nothing: Outline keys have no expiry, so an operator
// has none to move. It reports whether the key exists, as the other
// panels' sandboxes do.
func (s *Server) DriftExpiry(name string, _ time.Time) bool {
	return s.drift(name, func(*Key) {})
}

// Transfer counts bytes of traffic on the key, as if its user moved them;
// the key is blocked once it reaches its data limit. False when there is
// no such key.
func (s *Server) Transfer(name string, bytes int64) bool {
	return s.drift(name, func(k *Key) { k.UsedBytes += bytes })
}

// drift applies change to the key named name and saves it; false when there
// is no such key or the change could not be saved (and was undone).
func (s *Server) drift(name string, change func(*Key)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.findLocked(name)
	if k == nil {
		return false
	}
	rp := s.changeLocked(func() reply {
		change(k)
		return reply{Status: http.StatusNoContent}
	})
	return rp.Status == http.StatusNoContent
}

// findLocked is the key whose id is name, or else the first whose name is.
func (s *Server) findLocked(name string) *Key {
	if k := s.keys[name]; k != nil {
		return k
	}
	for _, id := range s.order {
		if s.keys[id].Name == name {
			return s.keys[id]
		}
	}
	return nil
}
