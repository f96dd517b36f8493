package outline

import (
	"net/http"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

// routeControl serves the sandbox control API for `make run` and curl.
func (s *Server) routeControl() {
	s.control = http.NewServeMux()
	s.control.HandleFunc("GET /sandbox/keys", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Keys())
	})
	s.control.HandleFunc("POST /sandbox/connect", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			AccessURL string `json:"accessUrl"`
		}
		if err := readParams(r, &in); err != nil || in.AccessURL == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"accessUrl\": \"ss://...\"}"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"works": s.KeyWorks(in.AccessURL)})
	})
	fault.HandleControl(s.control, s.Inject, s.ClearFaults)
	s.control.HandleFunc("/sandbox/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such sandbox endpoint"})
	})
}
