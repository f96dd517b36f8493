package fault

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// Fault is a failure injected into a sandbox's calls. A matching call first
// waits Latency, then (with Hang) waits until Clear or Close, then answers
// with Status if set, else is served normally. With ServeFirst the call is
// served before all that, so its effect happens though the client sees the
// failure: a reply lost on the way back.
type Fault struct {
	Route      string        // the route or method of the calls it affects; "" matches any
	Latency    time.Duration // delay before answering
	Status     int           // HTTP status to answer with, e.g. 500 or 503
	Hang       bool          // never answer until Clear or Close
	Times      int           // how many calls it affects; 0 = until cleared
	ServeFirst bool          // act on the call before failing it
}

// Routes is how an Injector compares a fault's Route with a call's.
type Routes int

const (
	// FoldCase ignores case, as Telegram does with method names.
	FoldCase Routes = iota
	// ExactCase compares byte for byte, as Crypto Pay does with its methods.
	ExactCase
)

// ErrAbandoned is what Wait returns when the call or the sandbox ended
// before the fault had played out.
var ErrAbandoned = errors.New("fault abandoned: the call or the sandbox ended")

// Injector holds one sandbox's faults. X is what the sandbox adds to a fault
// beyond Fault: a narrower match or how to render it (Telegram's chat id and
// retry_after); sandboxes with nothing to add use struct{}. Make it with New;
// it is safe for concurrent use.
type Injector[X any] struct {
	routes Routes
	closed chan struct{} // closed by Close to end every wait for good

	mu        sync.Mutex
	faults    []*injected[X]
	released  chan struct{} // closed (and replaced) by Clear to release hangs
	wasClosed bool
}

type injected[X any] struct {
	Fault
	extra     X
	remaining int
}

// New returns an injector without faults whose routes compare as routes says.
func New[X any](routes Routes) *Injector[X] {
	return &Injector[X]{routes: routes, closed: make(chan struct{}), released: make(chan struct{})}
}

// Inject adds a fault with the sandbox's extra; the first matching fault, in
// injection order, applies to each call.
func (in *Injector[X]) Inject(f Fault, extra X) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults = append(in.faults, &injected[X]{Fault: f, extra: extra, remaining: f.Times})
}

// Clear removes every fault and releases the calls hanging on one.
func (in *Injector[X]) Clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults = nil
	close(in.released)
	in.released = make(chan struct{})
}

// Close ends every wait, now and later, with ErrAbandoned: the sandbox is
// closing and waits for its calls. It is safe to call more than once.
func (in *Injector[X]) Close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.wasClosed {
		in.wasClosed = true
		close(in.closed)
	}
}

// Take returns the first fault that a call to route meets and that match (nil
// matches all) accepts for it, counting the call against the fault's Times.
// ok is false when the call meets none and is to be served normally.
func (in *Injector[X]) Take(route string, match func(extra X) bool) (a Active[X], ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, f := range in.faults {
		if (f.Route != "" && !in.sameRoute(f.Route, route)) || (match != nil && !match(f.extra)) {
			continue
		}
		if f.Times > 0 {
			f.remaining--
			if f.remaining <= 0 {
				in.faults = append(in.faults[:i:i], in.faults[i+1:]...)
			}
		}
		return Active[X]{Fault: f.Fault, Extra: f.extra, released: in.released, closed: in.closed}, true
	}
	return Active[X]{}, false
}

func (in *Injector[X]) sameRoute(faultRoute, route string) bool {
	if in.routes == ExactCase {
		return faultRoute == route
	}
	return strings.EqualFold(faultRoute, route)
}

// Active is a fault met by one call.
type Active[X any] struct {
	Fault
	Extra X

	// released is the Clear generation the call met the fault in: a later
	// Clear releases it, an earlier one does not.
	released <-chan struct{}
	closed   <-chan struct{}
}

// Wait plays the fault's latency and then its hang. It returns nil when they
// are over, the call to be answered with Status (or served, if 0), and
// ErrAbandoned when ctx ends or the injector closes first.
func (a Active[X]) Wait(ctx context.Context) error {
	if a.Latency > 0 {
		t := time.NewTimer(a.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ErrAbandoned
		case <-a.closed:
			return ErrAbandoned
		}
	}
	if a.Hang {
		select {
		case <-a.released:
		case <-ctx.Done():
			return ErrAbandoned
		case <-a.closed:
			return ErrAbandoned
		}
	}
	return nil
}
