package cryptopay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
)

// Config sets up a Server. Zero values take the defaults documented on each field.
type Config struct {
	// Token is the one API token accepted (required).
	Token string
	// WebhookURL receives invoice_paid updates; empty sends none until
	// SetWebhook.
	WebhookURL string
	// PublicURL is the base of the pay links put into invoices (default: the
	// URL Start listens on). Set it when the sandbox is reached through
	// another address, or when Handler is mounted elsewhere.
	PublicURL string
	// AppName is getMe's name (default "vpnbot sandbox").
	AppName string
	// RetryBase is the delay before the second webhook attempt (default 1s);
	// it doubles on each failure up to RetryMax (default 1m).
	RetryBase time.Duration
	RetryMax  time.Duration
	// MaxAttempts is how many times one update is tried before it is given
	// up (default 17, as Crypto Pay does).
	MaxAttempts int
	// WebhookTimeout is how long one delivery may take before it counts as
	// failed (default 10s).
	WebhookTimeout time.Duration
	// NowFunc is the clock deciding creation, payment and expiry times
	// (default time.Now); tests move it to expire invoices without waiting.
	NowFunc func() time.Time
	// FirstID is the first invoice id and the first webhook update id
	// (default 1); a StateDir's ids go on past their last, or from FirstID
	// if that is higher. Crypto Pay's ids only grow, and a database keeps
	// the ids of the invoices it attached: a sandbox started afresh over
	// such a database (make run after make clean, which keeps a database
	// it did not create) must start past them, as make run does by
	// starting from the clock.
	FirstID int64
	// StateDir, when set, is the folder where the server keeps its invoices
	// and ids across restarts: Start restores them, and every change is
	// written there before it is answered, so even a SIGKILL loses no
	// invoice and no id is ever handed out twice. Only deliveries in flight
	// are lost (the payment-watcher's poll finds those payments). Empty
	// keeps everything in memory.
	StateDir string
	// Log receives the server's own logs (deliveries, failures).
	Log zerolog.Logger
}

const (
	defaultAppName        = "vpnbot sandbox"
	defaultRetryBase      = time.Second
	defaultRetryMax       = time.Minute
	defaultMaxAttempts    = 17
	defaultWebhookTimeout = 10 * time.Second
	maxBodyBytes          = 1 << 20
	// maxRequestLog bounds the request log of a long `make run`.
	maxRequestLog = 10000
)

// Server is a fake Crypto Pay. Create it with New, serve it with Start (or
// mount Handler yourself) and always Close it.
type Server struct {
	cfg     Config
	log     zerolog.Logger
	nowFunc func() time.Time
	mux     *http.ServeMux
	client  *http.Client // webhook deliveries

	web *fakehttp.Server // serves mux and counts its requests; locks itself

	// ctx is cancelled by Close; every request served and every goroutine the
	// server starts watches it, and the goroutines are counted in wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// faults match methods exactly, as the API looks them up.
	faults *fault.Injector[struct{}] // locks itself

	mu         sync.Mutex
	closed     bool // no new webhook goroutine once set
	webhookURL string

	invoices   map[int64]*Invoice
	byHash     map[string]int64
	lastID     int64
	lastUpdate int64
	paidBodies map[int64][]byte // invoice id → its invoice_paid update, for Resend

	requests []Request
	stats    Stats
}

// New returns a server for cfg. It starts no goroutine until Start or a
// payment.
func New(cfg Config) *Server {
	if cfg.AppName == "" {
		cfg.AppName = defaultAppName
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = defaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = defaultRetryMax
	}
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryBase)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = defaultWebhookTimeout
	}
	now := cfg.NowFunc
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		log:        cfg.Log.With().Str("component", "sandbox-cryptopay").Logger(),
		nowFunc:    now,
		client:     &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		ctx:        ctx,
		cancel:     cancel,
		webhookURL: cfg.WebhookURL,
		invoices:   map[int64]*Invoice{},
		byHash:     map[string]int64{},
		paidBodies: map[int64][]byte{},
		lastID:     max(cfg.FirstID-1, 0),
		lastUpdate: max(cfg.FirstID-1, 0),
		faults:     fault.New[struct{}](fault.ExactCase),
		stats:      Stats{Requests: map[string]int{}},
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/api/{method}", s.serveAPI)
	s.mux.HandleFunc("GET /pay/{hash}", s.servePayPage)
	s.mux.HandleFunc("POST /pay/{hash}", s.servePay)
	s.routeSandboxAPI(s.mux)
	s.web = fakehttp.New(fakehttp.Config{
		Name:    "crypto pay sandbox",
		Handler: s.mux,
		UnavailableFunc: func(w http.ResponseWriter, _ *http.Request) {
			writeAPIError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		},
		Log: s.log,
	})
	return s
}

// Handler serves the API (/api/<method>), the pay pages (/pay/<hash>) and the
// sandbox control API (/sandbox/...).
func (s *Server) Handler() http.Handler { return s.web.Handler() }

// Start restores the state of Config.StateDir, then listens on addr (e.g.
// "127.0.0.1:0") and serves Handler in the background until Close.
func (s *Server) Start(addr string) error {
	if err := s.load(); err != nil {
		return err
	}
	return s.web.Start(addr)
}

// URL is the base URL to give the client as its BaseURL, e.g.
// http://127.0.0.1:PORT; empty before Start.
func (s *Server) URL() string { return s.web.URL() }

// SetWebhook sets the URL invoice_paid updates go to; "" stops sending them
// (deliveries being retried stop too).
func (s *Server) SetWebhook(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL = url
}

// Close stops serving, releases hung requests, stops webhook delivery and
// waits for all of it. It is safe to call more than once.
func (s *Server) Close() {
	s.web.Close(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		// Hung handlers return once the context is cancelled and the faults
		// are closed; the server waits for them.
		s.cancel()
		s.faults.Close()
	})
	s.wg.Wait()
	s.client.CloseIdleConnections()
}

// publicURLLocked is the base of pay links.
func (s *Server) publicURLLocked() string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	return s.web.URL()
}

// apiError is a refusal in Crypto Pay's shape.
type apiError struct {
	code int
	name string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.code, e.name) }

func badParam(name string) *apiError { return &apiError{code: http.StatusBadRequest, name: name} }

type apiResponse struct {
	OK     bool           `json:"ok"`
	Result any            `json:"result,omitempty"`
	Error  *apiErrorField `json:"error,omitempty"`
}

type apiErrorField struct {
	Code int    `json:"code"`
	Name string `json:"name"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a client that went away is not our error
}

func writeAPIError(w http.ResponseWriter, code int, name string) {
	writeJSON(w, code, apiResponse{Error: &apiErrorField{Code: code, Name: name}})
}

// apiMethods are the API methods the sandbox serves.
var apiMethods = map[string]func(*Server, params) (any, *apiError){
	"getMe":         (*Server).getMe,
	"createInvoice": (*Server).createInvoice,
	"getInvoices":   (*Server).getInvoices,
	"deleteInvoice": (*Server).deleteInvoice,
}

// serveAPI answers /api/<method> the way pay.crypt.bot does.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	p, perr := parseParams(r)
	s.record(method, p)

	// Faults come first: a slow or failing service fails whatever is asked.
	if f := s.applyFault(r.Context(), method); f != nil {
		f.write(w)
		return
	}
	if r.Header.Get("Crypto-Pay-API-Token") != s.cfg.Token || s.cfg.Token == "" {
		writeAPIError(w, http.StatusUnauthorized, "UNAUTHORIZED")
		return
	}
	fn, ok := apiMethods[method]
	if !ok {
		writeAPIError(w, http.StatusMethodNotAllowed, "METHOD_NOT_FOUND")
		return
	}
	if perr != nil {
		s.log.Debug().Err(perr).Str("method", method).Msg("unreadable request")
		writeAPIError(w, http.StatusBadRequest, "PARAMS_INVALID")
		return
	}
	result, e := fn(s, p)
	if e != nil {
		s.log.Debug().Str("method", method).Int("code", e.code).Str("name", e.name).Msg("crypto pay call refused")
		writeAPIError(w, e.code, e.name)
		return
	}
	writeJSON(w, http.StatusOK, apiResponse{OK: true, Result: result})
}

// Request is one API call as the sandbox received it.
type Request struct {
	Method string            // e.g. "getInvoices"
	Params map[string]string // query, JSON or form parameters, values as text
	At     time.Time
}

func (s *Server) record(method string, p params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests[method]++
	if len(s.requests) >= maxRequestLog {
		s.requests = append(s.requests[:0], s.requests[len(s.requests)/2:]...)
	}
	s.requests = append(s.requests, Request{Method: method, Params: p, At: s.nowFunc()})
}

// Requests returns the API calls received so far, oldest first (the latest
// 10,000 at most).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}
