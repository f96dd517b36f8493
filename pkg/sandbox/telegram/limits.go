package telegram

import (
	"context"
	"maps"
	"math"
	"net/http"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
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

// chatFault is what a Fault adds to the shared mechanism.
type chatFault struct {
	chatID     int64
	retryAfter int
}

// Inject adds a fault; the first matching fault, in injection order, applies
// to each call.
func (s *Server) Inject(f Fault) {
	s.faults.Inject(
		fault.Fault{Route: f.Method, Latency: f.Latency, Status: f.Status, Hang: f.Hang, Times: f.Times},
		chatFault{chatID: f.ChatID, retryAfter: f.RetryAfter},
	)
}

// ClearFaults removes every fault and releases the calls hanging on one.
func (s *Server) ClearFaults() { s.faults.Clear() }

var errUnavailable = &apiError{code: http.StatusServiceUnavailable, desc: "Service Unavailable"}

// applyFault plays the first fault matching a call; nil means "serve it".
func (s *Server) applyFault(ctx context.Context, method string, chatID int64) *apiError {
	f, met := s.faults.Take(method, func(c chatFault) bool { return c.chatID == 0 || c.chatID == chatID })
	if !met {
		return nil
	}
	if f.Wait(ctx) != nil {
		return errUnavailable
	}
	switch f.Status {
	case 0:
		return nil
	case http.StatusTooManyRequests:
		return floodError(max(1, f.Extra.retryAfter))
	case http.StatusForbidden:
		return errBlocked
	case http.StatusBadRequest:
		return badRequest("injected fault")
	default:
		return &apiError{code: f.Status, desc: http.StatusText(f.Status)}
	}
}

// Flood is a sending call the flood limits refused with 429, as opposed to a
// 429 an injected Fault answered: the bot itself sent too fast.
type Flood struct {
	At     time.Time `json:"at"`
	Method string    `json:"method"`
	ChatID int64     `json:"chat_id"`
	// Global is true when the bot-wide limit refused it, false for the
	// chat's own.
	Global bool `json:"global"`
	// Paid is true for a paid broadcast's message: the bot-wide limit it
	// met was the paid one.
	Paid bool `json:"paid,omitempty"`
}

// maxFloods is how many of the latest Floods the server keeps.
const maxFloods = 1000

// Floods returns the latest refusals of the flood limits (at most 1000;
// Stats.Flooded counts them all), oldest first.
func (s *Server) Floods() []Flood {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.floods)
}

// paramPaidBroadcast is the sending methods' parameter that asks Telegram
// to let a message past the free bot-wide limit, for Stars.
const paramPaidBroadcast = "allow_paid_broadcast"

// admitSend refuses a sending call to a chat whose user blocked the bot
// (403) or over the flood limits (429), as Telegram does: the chat's limit,
// and the bot-wide one of free messages or, for a paid broadcast's, the
// paid one.
func (s *Server) admitSend(method string, chatID int64, paid bool) *apiError {
	if chatID <= 0 {
		return nil // the method itself rejects the missing or foreign chat
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked[chatID] {
		return errBlocked
	}
	now := time.Now()
	global := s.global
	if paid {
		global = s.paidGlobal
	}
	var taken []*rate.Reservation
	for i, l := range []*rate.Limiter{s.chatLimiterLocked(chatID), global} {
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
			s.flooded++
			if len(s.floods) == maxFloods {
				s.floods = slices.Delete(s.floods, 0, 1)
			}
			s.floods = append(s.floods, Flood{At: now, Method: method, ChatID: chatID, Global: i == 1, Paid: paid})
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
	TooManyRequests  int            `json:"too_many_requests"` // 429 answers, injected ones included
	Flooded          int            `json:"flooded"`           // 429 answers of the flood limits themselves (Floods)
	Forbidden        int            `json:"forbidden"`         // 403 answers
	PaidBroadcasts   int            `json:"paid_broadcasts"`   // messages sent with allow_paid_broadcast, each charged in Stars
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
		Flooded:          s.flooded,
		Forbidden:        s.forbidden,
		PaidBroadcasts:   s.paidBroadcasts,
		Deliveries:       s.deliveries,
		DeliveryFailures: s.deliveryFail,
		Pending:          len(s.updates.pending),
	}
}
