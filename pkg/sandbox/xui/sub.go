package xui

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// serveSub is the subscription server: GET <SubPath><subId> answers the
// links of every client with that subId in an enabled inbound, one a line,
// base64-encoded, as the panel's subscription service does with its default
// settings. Like the panel it lists a disabled client's link too (Xray is
// what refuses it: see Accepts); an unknown subId is 400 "Error!" before
// 3.1 and 404 without a body from 3.1 on.
func (s *Server) serveSub(w http.ResponseWriter, r *http.Request) {
	subID := strings.TrimPrefix(r.URL.Path, SubPath)
	if r.Method != http.MethodGet || subID == "" || strings.Contains(subID, "/") {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	var links []string
	var up, down, total, expiry int64
	s.mu.Lock()
	s.sweepLocked()
	for _, in := range s.inbounds {
		if !in.Enable {
			continue
		}
		for _, c := range in.Clients {
			if c.SubID != subID {
				continue
			}
			links = append(links, fmt.Sprintf("vless://%s@%s:%d?type=tcp&security=none&encryption=none#%s",
				c.ID, host, in.Port, url.PathEscape(in.Remark+"-"+c.Email)))
			up, down, total, expiry = c.Up, c.Down, c.TotalGB, c.ExpiryTime
		}
	}
	s.mu.Unlock()
	if len(links) == 0 {
		if s.line.clientsAPI {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("Error!")) // a client that went away is not our error
		return
	}
	w.Header().Set("Subscription-Userinfo", fmt.Sprintf("upload=%d; download=%d; total=%d; expire=%d", up, down, total, expiry/1000))
	w.Header().Set("Profile-Update-Interval", "12")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(base64.StdEncoding.EncodeToString([]byte(strings.Join(links, "\n") + "\n")))) // a client that went away is not our error
}
