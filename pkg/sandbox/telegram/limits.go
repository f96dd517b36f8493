package telegram

import (
	"context"
	"maps"
	"math"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Fault is a failure injected into Bot API calls. A matching call first waits
// Latency, then (with Hang) waits until ClearFaults or Close, then answers
// with Status if set, else is served normally.
type Fault struct {
	Method     string        // Bot API method, case-insensitive; "" matches any
	ChatID     int64         // chat_id of the call; 0 matches any
	Latency    time.Duration // delay before answering
	Status     int           // HTTP/Bot API error code to answer with, e.g. 500, or 429 with RetryAfter
	RetryAfter int           // retry_after seconds of a 429 (default 1)
	Hang       bool          // never answer until ClearFaults or Close
	Times      int           // how many calls it affects; 0 = until cleared
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

var errUnavailable = &apiError{code: http.StatusServiceUnavailable, desc: "Service Unavailable"}

// applyFault plays the first fault matching a call; nil means "serve it".
func (s *Server) applyFault(ctx context.Context, method string, chatID int64) *apiError {
	s.mu.Lock()
	var f *Fault
	for i, af := range s.faults {
		if (af.Method != "" && !strings.EqualFold(af.Method, method)) || (af.ChatID != 0 && af.ChatID != chatID) {
			continue
		}
		cp := af.Fault
		f = &cp
		if af.Times > 0 {
			af.remaining--
			if af.remaining <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		break
	}
	released := s.faultsPoke
	s.mu.Unlock()
	if f == nil {
		return nil
	}

	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return errUnavailable
		case <-s.ctx.Done():
			return errUnavailable
		}
	}
	if f.Hang {
		select {
		case <-released:
		case <-ctx.Done():
			return errUnavailable
		case <-s.ctx.Done():
			return errUnavailable
		}
	}
	switch f.Status {
	case 0:
		return nil
	case http.StatusTooManyRequests:
		return floodError(max(1, f.RetryAfter))
	case http.StatusForbidden:
		return errBlocked
	case http.StatusBadRequest:
		return badRequest("injected fault")
	default:
		return &apiError{code: f.Status, desc: http.StatusText(f.Status)}
	}
}

// admitSend refuses a sending call to a chat whose user blocked the bot
// (403) or over the flood limits (429), as Telegram does.
func (s *Server) admitSend(chatID int64) *apiError {
	if chatID <= 0 {
		return nil // the method itself rejects the missing or foreign chat
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked[chatID] {
		return errBlocked
	}
	now := time.Now()
	var taken []*rate.Reservation
	for _, l := range []*rate.Limiter{s.chatLimiterLocked(chatID), s.global} {
		if l == nil {
			continue
		}
		r := l.ReserveN(now, 1)
		if d := r.DelayFrom(now); !r.OK() || d > 0 {
			// Refused calls must not use up tokens, or a client retrying
			// after retry_after would be refused again.
			r.CancelAt(now)
			for _, t := range taken {
				t.CancelAt(now)
			}
			retry := 1
			if r.OK() {
				retry = max(1, int(math.Ceil(d.Seconds())))
			}
			return floodError(retry)
		}
		taken = append(taken, r)
	}
	return nil
}

func (s *Server) chatLimiterLocked(chatID int64) *rate.Limiter {
	if s.cfg.ChatRate < 0 {
		return nil
	}
	l, ok := s.chatLimit[chatID]
	if !ok {
		l = rate.NewLimiter(rate.Limit(s.cfg.ChatRate), s.cfg.ChatBurst)
		s.chatLimit[chatID] = l
	}
	return l
}

// Stats counts what the server saw, for tests and the sandbox API.
type Stats struct {
	Requests         map[string]int `json:"requests"`          // Bot API calls by method
	TooManyRequests  int            `json:"too_many_requests"` // 429 answers
	Forbidden        int            `json:"forbidden"`         // 403 answers
	Deliveries       int            `json:"deliveries"`        // webhook deliveries answered 2xx
	DeliveryFailures int            `json:"delivery_failures"` // webhook attempts that failed
	Pending          int            `json:"pending"`           // updates not yet delivered or confirmed
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Requests:         maps.Clone(s.requests),
		TooManyRequests:  s.tooMany,
		Forbidden:        s.forbidden,
		Deliveries:       s.deliveries,
		DeliveryFailures: s.deliveryFail,
		Pending:          len(s.updates.pending),
	}
}
