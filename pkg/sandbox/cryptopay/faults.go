package cryptopay

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

// Fault is a failure injected into API calls. A matching call first waits
// Latency, then (with Hang) waits until ClearFaults or Close, then answers
// with Status if set, else is served normally.
type Fault struct {
	Method  string        // API method, e.g. "getInvoices"; "" matches any
	Latency time.Duration // delay before answering
	// Status is the HTTP status to answer with: 500 and 4xx come as Crypto
	// Pay's {"ok":false,...} envelope, 502/503/504 as the HTML page of the
	// proxy in front of it.
	Status int
	Hang   bool // never answer until ClearFaults or Close
	Times  int  // how many calls it affects; 0 = until cleared
}

// Inject adds a fault; the first matching fault, in injection order, applies
// to each call.
func (s *Server) Inject(f Fault) {
	s.faults.Inject(fault.Fault{Route: f.Method, Latency: f.Latency, Status: f.Status, Hang: f.Hang, Times: f.Times}, struct{}{})
}

// ClearFaults removes every fault and releases the calls hanging on one.
func (s *Server) ClearFaults() { s.faults.Clear() }

// faultAnswer is the status a fault answers with.
type faultAnswer int

func (f faultAnswer) write(w http.ResponseWriter) {
	status := int(f)
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		text := fmt.Sprintf("%d %s", status, http.StatusText(status))
		_, _ = fmt.Fprintf(w, "<html><head><title>%s</title></head><body><center><h1>%s</h1></center><hr><center>nginx</center></body></html>\n", text, text)
	case http.StatusInternalServerError:
		writeAPIError(w, status, "INTERNAL_ERROR")
	default:
		writeAPIError(w, status, strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_")))
	}
}

// applyFault plays the first fault matching a call; nil means "serve it".
func (s *Server) applyFault(ctx context.Context, method string) *faultAnswer {
	f, met := s.faults.Take(method, nil)
	if !met {
		return nil
	}
	if f.Wait(ctx) != nil {
		unavailable := faultAnswer(http.StatusServiceUnavailable)
		return &unavailable
	}
	if f.Status == 0 {
		return nil
	}
	a := faultAnswer(f.Status)
	return &a
}

// Stats counts what the server saw, for tests and the sandbox API.
type Stats struct {
	Requests         map[string]int `json:"requests"`          // API calls by method
	Deliveries       int            `json:"deliveries"`        // webhook updates answered 2xx
	DeliveryFailures int            `json:"delivery_failures"` // webhook attempts that failed
	Abandoned        int            `json:"abandoned"`         // updates given up after MaxAttempts
	Pending          int            `json:"pending"`           // updates being delivered or waiting to retry
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = maps.Clone(s.stats.Requests)
	return st
}
