package console

import (
	"errors"
	"net/http"

	"github.com/vpnbot/vpnbot/pkg/localstack/traces"
)

// latestTraces is how many traces the status page lists.
const latestTraces = 30

func (s *Server) routeTraces(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/traces", s.listTraces)
	mux.HandleFunc("GET /api/traces/{id}", s.trace)
}

// tracesView is the status page's list: on is false when the services do
// not export their traces here.
type tracesView struct {
	On     bool             `json:"on"`
	Traces []traces.Summary `json:"traces"`
}

func (s *Server) listTraces(w http.ResponseWriter, _ *http.Request) {
	v := tracesView{Traces: []traces.Summary{}}
	if s.cfg.Traces != nil {
		v.On, v.Traces = true, s.cfg.Traces.Latest(latestTraces)
	}
	writeJSON(w, http.StatusOK, v)
}

// trace is one trace's spans, earliest first, for the waterfall.
func (s *Server) trace(w http.ResponseWriter, r *http.Request) {
	var spans []traces.Span
	if s.cfg.Traces != nil {
		spans = s.cfg.Traces.Trace(r.PathValue("id"))
	}
	if len(spans) == 0 {
		fail(w, http.StatusNotFound, errors.New("no such trace (only the latest are kept)"))
		return
	}
	writeJSON(w, http.StatusOK, spans)
}
