package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
)

// Events the web app logs when a person breaks something on purpose.
const (
	EventSwitch       = "SANDBOX_SWITCH"
	EventServiceKill  = "SANDBOX_SERVICE_KILL"
	EventServiceStart = "SANDBOX_SERVICE_START"
)

func (s *Server) routeStatus(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/status", s.status)
	mux.HandleFunc("GET /api/switches", s.listSwitches)
	mux.HandleFunc("POST /api/switches/{name}", s.setSwitch)
	mux.HandleFunc("POST /api/services/{label}/kill", s.killService)
	mux.HandleFunc("POST /api/services/{label}/start", s.startService)
}

// Status is what the status page shows, as GET /api/status returns it.
type Status struct {
	Time     time.Time       `json:"time"`
	Services []ServiceStatus `json:"services"`
	// Panels is each VPN panel: the sandbox's own view of it and what the
	// running services that call it report.
	Panels []PanelStatus `json:"panels"`
	// Streams is every stream and its consumers as NATS reports them (with
	// Config.JetStream).
	Streams []StreamStatus `json:"streams,omitempty"`
	// StreamsError says why NATS could not be read.
	StreamsError string `json:"streams_error,omitempty"`
	// Telegram is the sandbox Telegram's counters: 429s answered and
	// webhook deliveries failed since it started, updates waiting for the
	// gateway now.
	Telegram sandboxtg.Stats `json:"telegram"`
	Switches []Switch        `json:"switches"`
}

// ServiceStatus is one service process: its checks and what its /metrics
// says.
type ServiceStatus struct {
	localstack.ServiceID
	Running bool `json:"running"`
	// Starting is set while a start asked for on this page waits for the
	// service to be ready.
	Starting bool `json:"starting,omitempty"`
	// StartError is why the last start asked for on this page failed.
	StartError string `json:"start_error,omitempty"`
	OpsURL     string `json:"ops_url"`
	Live       Check  `json:"live"`
	Ready      Check  `json:"ready"`
	// MetricsError says why /metrics could not be read; the fields below
	// are then empty.
	MetricsError string `json:"metrics_error,omitempty"`
	Metrics
}

// Check is the answer of /livez or /readyz.
type Check struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail"` // the body ("ok", or what failed), or why there was no answer
}

// probeService fills in one service's checks and metrics; a service not
// running is not asked.
func (s *Server) probeService(ctx context.Context, c Control, id localstack.ServiceID) ServiceStatus {
	st := ServiceStatus{
		ServiceID: id,
		Running:   c.Running(id.Name, id.Replica),
		OpsURL:    c.OpsURL(id.Name, id.Replica),
	}
	s.mu.Lock()
	st.Starting, st.StartError = s.starting[id.Label], s.startErrors[id.Label]
	s.mu.Unlock()
	if !st.Running {
		st.Live = Check{Detail: "not running"}
		st.Ready = st.Live
		st.MetricsError = "not running"
		return st
	}
	st.Live = s.check(ctx, st.OpsURL+"/livez")
	st.Ready = s.check(ctx, st.OpsURL+"/readyz")
	code, body, err := localstack.Probe(ctx, s.http, st.OpsURL+"/metrics")
	switch {
	case err != nil:
		st.MetricsError = err.Error()
	case code != http.StatusOK:
		st.MetricsError = fmt.Sprintf("/metrics answered %d", code)
	default:
		m, err := parseMetrics(bytes.NewReader(body), time.Now())
		if err != nil {
			st.MetricsError = err.Error()
		}
		st.Metrics = m
	}
	return st
}

func (s *Server) check(ctx context.Context, url string) Check {
	code, body, err := localstack.Probe(ctx, s.http, url)
	if err != nil {
		return Check{Detail: err.Error()}
	}
	return Check{OK: code == http.StatusOK, Detail: strings.TrimSpace(string(body))}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := Status{Time: time.Now().UTC(), Telegram: s.cfg.Telegram.Stats(), Switches: s.switches.Switches()}
	var wg sync.WaitGroup
	if js := s.cfg.JetStream; js != nil {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProbeTimeout)
			defer cancel()
			var err error
			if st.Streams, err = readStreams(ctx, js, st.Time); err != nil {
				st.StreamsError = err.Error()
			}
		})
	}
	if c := s.cfg.Control; c != nil {
		ids := c.Services()
		st.Services = make([]ServiceStatus, len(ids))
		for i, id := range ids {
			wg.Go(func() { st.Services[i] = s.probeService(r.Context(), c, id) })
		}
	}
	wg.Wait()
	if s.cfg.Control != nil {
		addReaders(st.Streams, st.Services)
	}
	st.Panels = s.panelStatuses(st.Services)
	writeJSON(w, http.StatusOK, st)
}

// service finds a service of the Control by its label.
func (s *Server) service(label string) (localstack.ServiceID, error) {
	if s.cfg.Control == nil {
		return localstack.ServiceID{}, errors.New("this sandbox controls no services")
	}
	for _, id := range s.cfg.Control.Services() {
		if id.Label == label {
			return id, nil
		}
	}
	return localstack.ServiceID{}, fmt.Errorf("no service %q", label)
}

// killService kills a service with SIGKILL, as a crash would.
func (s *Server) killService(w http.ResponseWriter, r *http.Request) {
	id, err := s.service(r.PathValue("label"))
	if err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	if err := s.cfg.Control.Kill(id.Name, id.Replica); err != nil {
		fail(w, http.StatusConflict, err)
		return
	}
	s.log.Info().Str("event", EventServiceKill).Str("service", id.Label).Msg("service killed from the sandbox")
	w.WriteHeader(http.StatusNoContent)
}

// startService starts a stopped service in the background and answers 202
// at once: the start waits for the service to be ready, which can take
// longer than a page should wait. The status page shows it starting.
func (s *Server) startService(w http.ResponseWriter, r *http.Request) {
	id, err := s.service(r.PathValue("label"))
	if err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		fail(w, http.StatusServiceUnavailable, errors.New("the sandbox is shutting down"))
		return
	case s.starting[id.Label] || s.cfg.Control.Running(id.Name, id.Replica):
		s.mu.Unlock()
		fail(w, http.StatusConflict, fmt.Errorf("%s is already running or starting", id.Label))
		return
	}
	s.starting[id.Label] = true
	delete(s.startErrors, id.Label)
	s.starts.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.starts.Done()
		err := s.cfg.Control.Start(id.Name, id.Replica)
		s.mu.Lock()
		delete(s.starting, id.Label)
		if err != nil {
			s.startErrors[id.Label] = err.Error()
		}
		s.mu.Unlock()
		if err != nil {
			s.log.Error().Err(err).Str("event", EventServiceStart).Str("service", id.Label).Msg("starting a service from the sandbox failed")
			return
		}
		s.log.Info().Str("event", EventServiceStart).Str("service", id.Label).Msg("service started from the sandbox")
	}()
	w.WriteHeader(http.StatusAccepted)
}
