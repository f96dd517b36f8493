package obs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Check reports whether one part of a service is healthy.
type Check func(ctx context.Context) error

// Ops is a service's operations endpoint: /livez, /readyz and /metrics.
type Ops struct {
	log      zerolog.Logger
	registry *prometheus.Registry

	mu        sync.Mutex
	liveness  map[string]Check
	readiness map[string]Check
	failing   map[string]bool // liveness checks currently failing, to log each failure once

	watchdogAfter time.Duration // 0: no self-watchdog
}

// watchdogInterval is how often the self-watchdog looks at liveness.
const watchdogInterval = 5 * time.Second

// SetWatchdog makes Serve also run the self-watchdog (see Watchdog): the
// process exits once liveness has failed for exitAfter. 0 turns it off.
func (o *Ops) SetWatchdog(exitAfter time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.watchdogAfter = exitAfter
}

// NewOps returns an ops endpoint with a fresh metrics registry holding the Go
// runtime and process collectors and the results of its own checks
// (vpnbot_live, vpnbot_ready).
func NewOps(log zerolog.Logger) *Ops {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o := &Ops{
		log:       log,
		registry:  reg,
		liveness:  map[string]Check{},
		readiness: map[string]Check{},
		failing:   map[string]bool{},
	}
	reg.MustRegister(newHealthCollector(o))
	return o
}

// Registry is where the service registers its metrics.
func (o *Ops) Registry() *prometheus.Registry { return o.registry }

// AddLiveness adds a check that fails when the service must be restarted.
func (o *Ops) AddLiveness(name string, c Check) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.liveness[name] = c
}

// AddReadiness adds a check that fails while the service cannot do its work.
func (o *Ops) AddReadiness(name string, c Check) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.readiness[name] = c
}

// Live runs the liveness checks, logging LIVENESS_CHECK_FAILED once each time a
// check starts failing.
func (o *Ops) Live(ctx context.Context) error {
	errs := o.run(ctx, o.liveness)
	o.mu.Lock()
	defer o.mu.Unlock()
	for name := range o.liveness {
		err, bad := errs[name]
		if bad && !o.failing[name] {
			o.log.Error().Str("event", EventLivenessCheckFailed).Str("check", name).Err(err).Msg("liveness check failed")
		}
		o.failing[name] = bad
	}
	return joinChecks(errs)
}

// Ready runs the readiness checks.
func (o *Ops) Ready(ctx context.Context) error {
	return joinChecks(o.run(ctx, o.readiness))
}

func (o *Ops) run(ctx context.Context, set map[string]Check) map[string]error {
	o.mu.Lock()
	checks := make(map[string]Check, len(set))
	for k, v := range set {
		checks[k] = v
	}
	o.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	errs := map[string]error{}
	for name, c := range checks {
		if err := c(ctx); err != nil {
			errs[name] = err
		}
	}
	return errs
}

func joinChecks(errs map[string]error) error {
	if len(errs) == 0 {
		return nil
	}
	names := make([]string, 0, len(errs))
	for n := range errs {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s: %v", n, errs[n])
	}
	return errors.New(strings.Join(parts, "; "))
}

// Handler serves /livez, /readyz and /metrics.
func (o *Ops) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", o.serveCheck(o.Live))
	mux.HandleFunc("GET /readyz", o.serveCheck(o.Ready))
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.registry, promhttp.HandlerOpts{Registry: o.registry, EnableOpenMetrics: true}))
	return mux
}

func (o *Ops) serveCheck(check func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := check(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// Serve listens on addr and serves the ops endpoint until ctx is done, with
// the self-watchdog beside it when SetWatchdog asked for one.
func (o *Ops) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on OPS_ADDR %s: %w", addr, err)
	}
	o.mu.Lock()
	after := o.watchdogAfter
	o.mu.Unlock()
	if after > 0 {
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			o.Watchdog(wctx, after, watchdogInterval, os.Exit)
		}()
		defer func() { stop(); <-done }()
	}
	return ServeHTTP(ctx, ln, o.Handler())
}

// ServeHTTP serves h on ln until ctx is done, then shuts the server down,
// letting requests in flight finish for up to 10 seconds.
func ServeHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutting down %s: %w", ln.Addr(), err)
	}
	return nil
}
