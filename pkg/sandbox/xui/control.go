package xui

import (
	"net/http"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

// routeControl serves the sandbox control API for `make run` and curl.
func (s *Server) routeControl() {
	s.control = http.NewServeMux()
	s.control.HandleFunc("GET /sandbox/users", func(w http.ResponseWriter, _ *http.Request) {
		fakehttp.WriteJSON(w, http.StatusOK, s.Users())
	})
	s.control.HandleFunc("POST /sandbox/sessions/expire", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireSessions()
		w.WriteHeader(http.StatusNoContent)
	})
	fault.HandleControl(s.control, s.Inject, s.ClearFaults)
	s.control.HandleFunc("/sandbox/", func(w http.ResponseWriter, _ *http.Request) {
		fakehttp.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such sandbox endpoint"})
	})
}
