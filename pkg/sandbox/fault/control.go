package fault

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// HandleControl serves the faults control endpoints on mux, for `make run`
// and curl: POST /sandbox/faults decodes its JSON body into a B and hands it
// to inject, DELETE /sandbox/faults calls clear. Both answer 204 No Content;
// a body that does not decode gets 400 and {"error":"..."}.
func HandleControl[B any](mux *http.ServeMux, inject func(B), clear func()) {
	mux.HandleFunc("POST /sandbox/faults", func(w http.ResponseWriter, r *http.Request) {
		var body B
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "reading JSON body: " + err.Error()}) // a client that went away is not our error
			return
		}
		inject(body)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /sandbox/faults", func(w http.ResponseWriter, _ *http.Request) {
		clear()
		w.WriteHeader(http.StatusNoContent)
	})
}

// UnmarshalJSON reads a fault as the control API takes it:
// {"route","latency","status","hang","times","serve_first"}, latency as for
// Duration.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var body struct {
		Route      string   `json:"route"`
		Latency    Duration `json:"latency"`
		Status     int      `json:"status"`
		Hang       bool     `json:"hang"`
		Times      int      `json:"times"`
		ServeFirst bool     `json:"serve_first"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return err // already says what failed, and the caller says what it was reading
	}
	*f = Fault{
		Route: body.Route, Latency: time.Duration(body.Latency), Status: body.Status,
		Hang: body.Hang, Times: body.Times, ServeFirst: body.ServeFirst,
	}
	return nil
}

// Duration is a fault's latency in a control body: a Go duration ("250ms",
// "2s") or a number of milliseconds.
type Duration time.Duration

// UnmarshalJSON reads a Go duration string or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var text string
	if err := json.Unmarshal(b, &text); err == nil {
		v, err := time.ParseDuration(text)
		if err != nil {
			return fmt.Errorf("parsing latency: %w", err)
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("latency is neither a duration nor milliseconds: %w", err)
	}
	*d = Duration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}
