package remnawave

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ProxyHost is the address of the proxies a working subscription lists.
const ProxyHost = "proxy.sandbox.test"

// placeholderHost is where the panel points the links it serves a user who
// may not connect: its fallback hosts are vless to 0.0.0.0:1, named after
// the reason, so that a VPN app shows why instead of an error.
const placeholderHost = "0.0.0.0"

// subscription serves GET /api/sub/{shortUuid}, the subscriptionUrl, as
// the panel does for a client that asks for no particular format: base64
// of one share link a line, with the usage in subscription-userinfo. An
// unknown shortUuid (a revoked URL, a deleted user) is 404; a user who is
// not ACTIVE gets only a placeholder link that connects nowhere.
func (s *Server) subscription(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var u *User
	for _, k := range s.order {
		if s.users[k].ShortUUID == r.PathValue("shortUuid") {
			u = s.users[k]
			break
		}
	}
	var v User
	if u != nil {
		v = u.view(time.Now())
	}
	s.mu.Unlock()
	if u == nil {
		writeJSON(w, http.StatusNotFound, nestError{StatusCode: http.StatusNotFound, Message: "Not Found"})
		return
	}
	var links []string
	switch v.Status {
	case StatusActive:
		name := url.PathEscape(v.Username)
		ss := base64.StdEncoding.EncodeToString([]byte("chacha20-ietf-poly1305:" + v.SSPassword))
		links = []string{
			fmt.Sprintf("vless://%s@%s:443?security=reality&type=tcp&flow=xtls-rprx-vision#%s", v.VlessUUID, ProxyHost, name),
			fmt.Sprintf("trojan://%s@%s:443?security=tls&type=tcp#%s", v.TrojanPassword, ProxyHost, name),
			fmt.Sprintf("ss://%s@%s:8388#%s", ss, ProxyHost, name),
		}
	default:
		links = []string{fmt.Sprintf("vless://00000000-0000-0000-0000-000000000000@%s:1?type=tcp&security=none#%s",
			placeholderHost, url.PathEscape(placeholderRemark(v.Status)))}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Subscription-Userinfo", fmt.Sprintf("upload=0; download=0; total=%d; expire=%d",
		v.TrafficLimitBytes, v.ExpireAt.Unix()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(base64.StdEncoding.EncodeToString([]byte(strings.Join(links, "\n"))))) // a client that went away is not our error
}

func placeholderRemark(status string) string {
	switch status {
	case StatusExpired:
		return "Subscription expired"
	case StatusLimited:
		return "Traffic limit reached"
	default:
		return "Subscription disabled"
	}
}

// SubscriptionWorks reports whether body, a subscription as GET
// /api/sub/{shortUuid} answers it, lists a proxy a VPN app could connect
// to, rather than none or only the panel's placeholders.
func SubscriptionWorks(body []byte) bool {
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(body)))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(raw)) {
		u, err := url.Parse(strings.TrimSpace(line))
		if err == nil && u.Scheme != "" && u.Hostname() != "" && u.Hostname() != placeholderHost {
			return true
		}
	}
	return false
}
