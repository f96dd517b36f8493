package remnawave

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// routeControl serves the sandbox control API for `make run` and curl.
func (s *Server) routeControl() {
	s.control = http.NewServeMux()
	s.control.HandleFunc("GET /sandbox/users", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Users())
	})
	s.control.HandleFunc("POST /sandbox/faults", s.apiInject)
	s.control.HandleFunc("DELETE /sandbox/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	s.control.HandleFunc("/sandbox/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such sandbox endpoint"})
	})
}

// faultJSON is a Fault as the control API takes it; latency is a Go
// duration ("250ms", "2s") or a number of milliseconds.
type faultJSON struct {
	Route      string       `json:"route"`
	Latency    durationJSON `json:"latency"`
	Status     int          `json:"status"`
	Hang       bool         `json:"hang"`
	Times      int          `json:"times"`
	ServeFirst bool         `json:"serve_first"`
}

type durationJSON time.Duration

func (d *durationJSON) UnmarshalJSON(b []byte) error {
	var text string
	if err := json.Unmarshal(b, &text); err == nil {
		v, err := time.ParseDuration(text)
		if err != nil {
			return fmt.Errorf("parsing latency: %w", err)
		}
		*d = durationJSON(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("latency is neither a duration nor milliseconds: %w", err)
	}
	*d = durationJSON(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

func (s *Server) apiInject(w http.ResponseWriter, r *http.Request) {
	var f faultJSON
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "reading JSON body: " + err.Error()})
		return
	}
	s.Inject(Fault{
		Route: f.Route, Latency: time.Duration(f.Latency), Status: f.Status,
		Hang: f.Hang, Times: f.Times, ServeFirst: f.ServeFirst,
	})
	w.WriteHeader(http.StatusNoContent)
}
