package marzban

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// subscription serves GET /sub/{token}: for a valid token, the user's share
// links, one a line, base64-encoded (the panel's v2ray format, which it
// gives every client it does not recognise), whatever the user's status,
// as the panel does; its core is what refuses a user that is not active
// (Connects). An invalid, revoked or deleted user's token is 404 Not Found.
func (s *Server) subscription(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	u := s.subUserLocked(r.PathValue("token"))
	if u == nil {
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, detail("Not Found"))
		return
	}
	now := s.now()
	u.review(now)
	u.SubUpdatedAt, u.SubLastUserAgent = now.UTC(), r.UserAgent()
	s.changedLocked()
	links := s.links(u)
	info := fmt.Sprintf("upload=0; download=%d; total=%d; expire=%d", u.UsedTraffic, u.DataLimit, u.Expire)
	username := u.Username
	s.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+username+`"`)
	h.Set("Profile-Update-Interval", "12")
	h.Set("Subscription-Userinfo", info)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(base64.StdEncoding.EncodeToString([]byte(strings.Join(links, "\n"))))) // a client that went away is not our error
}

// links are u's share links: one for each inbound of each of its proxies.
func (s *Server) links(u *User) []string {
	links := []string{}
	for _, in := range s.cfg.Inbounds {
		p, ok := u.Proxies[in.Protocol]
		if !ok || !slices.Contains(u.Inbounds[in.Protocol], in.Tag) {
			continue
		}
		host := net.JoinHostPort(s.cfg.ServerAddress, strconv.Itoa(in.Port))
		remark := url.PathEscape(in.Tag + " (" + u.Username + ")")
		switch in.Protocol {
		case VLESS:
			links = append(links, "vless://"+p.ID+"@"+host+"?security=none&type=tcp#"+remark)
		case VMess:
			cfg, _ := json.Marshal(map[string]string{ // strings always encode
				"v": "2", "ps": in.Tag + " (" + u.Username + ")", "add": s.cfg.ServerAddress,
				"port": strconv.Itoa(in.Port), "id": p.ID, "aid": "0", "net": "ws", "type": "none", "tls": "",
			})
			links = append(links, "vmess://"+base64.StdEncoding.EncodeToString(cfg))
		case Trojan:
			links = append(links, "trojan://"+url.PathEscape(p.Password)+"@"+host+"?security=none&type=ws#"+remark)
		case Shadowsocks:
			userinfo := base64.RawURLEncoding.EncodeToString([]byte(p.Method + ":" + p.Password))
			links = append(links, "ss://"+userinfo+"@"+host+"#"+remark)
		}
	}
	return links
}

// Connects reports whether the panel's core would let a client through with
// a share link from a subscription: the link's inbound (by port) is one the
// user has, its credentials are the user's current ones, and the user is
// active. Anything else (a revoked credential, a disabled, expired, limited
// or deleted user, a link that does not parse) does not connect.
func (s *Server) Connects(link string) bool {
	proto, secret, port, ok := parseLink(link)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, u := range s.users {
		p, has := u.Proxies[proto]
		if !has || (p.ID != secret && p.Password != secret) {
			continue
		}
		u.review(now)
		if u.Status != StatusActive {
			return false
		}
		for _, in := range s.cfg.Inbounds {
			if in.Protocol == proto && in.Port == port && slices.Contains(u.Inbounds[proto], in.Tag) {
				return true
			}
		}
		return false
	}
	return false
}

// parseLink reads a share link's protocol, credential and port.
func parseLink(link string) (proto, secret string, port int, ok bool) {
	scheme, rest, found := strings.Cut(link, "://")
	if !found {
		return "", "", 0, false
	}
	if scheme == "vmess" {
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", "", 0, false
		}
		var c struct {
			ID   string `json:"id"`
			Port string `json:"port"`
		}
		if json.Unmarshal(raw, &c) != nil {
			return "", "", 0, false
		}
		port, err := strconv.Atoi(c.Port)
		return VMess, c.ID, port, err == nil && c.ID != ""
	}
	u, err := url.Parse(link)
	if err != nil || u.User == nil {
		return "", "", 0, false
	}
	port, err = strconv.Atoi(u.Port())
	if err != nil {
		return "", "", 0, false
	}
	switch scheme {
	case "vless":
		return VLESS, u.User.Username(), port, true
	case "trojan":
		return Trojan, u.User.Username(), port, true
	case "ss":
		raw, err := base64.RawURLEncoding.DecodeString(u.User.Username())
		if err != nil {
			return "", "", 0, false
		}
		_, password, found := strings.Cut(string(raw), ":")
		return Shadowsocks, password, port, found
	}
	return "", "", 0, false
}
