package fakehttp

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

// Reply is a route's answer: a status and a JSON body (nil: none).
type Reply struct {
	Status int
	Body   any
}

// Write answers with r.
func (r Reply) Write(w http.ResponseWriter) {
	if r.Body == nil {
		w.WriteHeader(r.Status)
		return
	}
	WriteJSON(w, r.Status, r.Body)
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a client that went away is not our error
}

// API is the routes of a fake REST API, such as a VPN panel's: each call is
// counted by its route, and a fault injected on the route is played before
// the route answers (or after it, with ServeFirst).
type API struct {
	// Mux serves the routes; a fake adds its own catch-all to it.
	Mux      *http.ServeMux
	faults   *fault.Injector[struct{}]
	failFunc func(status int, abandoned bool) Reply

	mu    sync.Mutex
	calls map[string]int // route → calls
}

// NewAPI returns the routes of a fake whose faults are in faults; failFunc
// words a failure as the fake's protocol does: an injected status, or 503
// for a call abandoned while it hung (abandoned).
func NewAPI(faults *fault.Injector[struct{}], failFunc func(status int, abandoned bool) Reply) *API {
	return &API{Mux: http.NewServeMux(), faults: faults, failFunc: failFunc, calls: map[string]int{}}
}

// Route serves pattern with fn.
func (a *API) Route(pattern string, fn func(*http.Request) Reply) {
	a.Mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.calls[pattern]++
		a.mu.Unlock()
		f, met := a.faults.Take(pattern, nil)
		if met && !f.ServeFirst {
			if rp, failed := a.play(r, f); failed {
				rp.Write(w)
				return
			}
		}
		rp := fn(r)
		if met && f.ServeFirst {
			if frp, failed := a.play(r, f); failed {
				rp = frp
			}
		}
		rp.Write(w)
	})
}

// play waits out the fault's latency and hang and returns the failure to
// answer with, if it has one.
func (a *API) play(r *http.Request, f fault.Active[struct{}]) (Reply, bool) {
	if f.Wait(r.Context()) != nil {
		return a.failFunc(http.StatusServiceUnavailable, true), true
	}
	if f.Status == 0 {
		return Reply{}, false
	}
	return a.failFunc(f.Status, false), true
}

// Requests counts the calls route received (as its pattern names it),
// failed ones included; "" counts all.
func (a *API) Requests(route string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if route != "" {
		return a.calls[route]
	}
	total := 0
	for _, n := range a.calls {
		total += n
	}
	return total
}
