package outline

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Fault is a failure injected into API calls. A matching call first waits
// Latency, then (with Hang) waits until ClearFaults or Close, then answers
// with Status if set, else is served normally. With ServeFirst the call is
// served before all that, so its effect happens though the client sees the
// failure: a reply lost on the way back.
type Fault struct {
	Route      string        // route as in the package doc, e.g. "PUT /access-keys/{id}"; "" matches any
	Latency    time.Duration // delay before answering
	Status     int           // HTTP status to answer with, e.g. 500 or 503
	Hang       bool          // never answer until ClearFaults or Close
	Times      int           // how many calls it affects; 0 = until cleared
	ServeFirst bool          // act on the call before failing it
}

type activeFault struct {
	Fault
	remaining int
}

// Inject adds a fault; the first matching fault, in injection order, applies
// to each call.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &activeFault{Fault: f, remaining: f.Times})
}

// ClearFaults removes every fault and releases the calls hanging on one.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	close(s.faultsPoke)
	s.faultsPoke = make(chan struct{})
}

// takeFault counts a call to route and returns the fault it meets, if any,
// with the channel that ClearFaults closes to release it.
func (s *Server) takeFault(route string) *playing {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[route]++
	for i, af := range s.faults {
		if af.Route != "" && !strings.EqualFold(af.Route, route) {
			continue
		}
		if af.Times > 0 {
			af.remaining--
			if af.remaining <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &playing{Fault: af.Fault, released: s.faultsPoke}
	}
	return nil
}

// playing is a fault met by one call.
type playing struct {
	Fault
	released <-chan struct{}
}

// play waits out the fault's latency and hang and returns the failure to
// answer with, if it has one.
func (s *Server) play(ctx context.Context, f *playing) (reply, bool) {
	unavailable := failure(http.StatusServiceUnavailable, "ServiceUnavailable", "request abandoned")
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return unavailable, true
		case <-s.ctx.Done():
			return unavailable, true
		}
	}
	if f.Hang {
		select {
		case <-f.released:
		case <-ctx.Done():
			return unavailable, true
		case <-s.ctx.Done():
			return unavailable, true
		}
	}
	if f.Status == 0 {
		return reply{}, false
	}
	return failure(f.Status, strings.ReplaceAll(http.StatusText(f.Status), " ", ""), "injected fault"), true
}
