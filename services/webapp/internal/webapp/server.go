package webapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/channelgate"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/tracing"
	"github.com/vpnbot/vpnbot/pkg/webappauth"
)

// Event names of the app's log lines.
const (
	// EventRequestFailed: a request failed on our side (500): the database,
	// a key too long for a QR code.
	EventRequestFailed = "WEBAPP_REQUEST_FAILED"
	// EventCryptoPayDown: Crypto Pay did not make an order's invoice; the
	// next request tries again, or the order expires unpaid.
	EventCryptoPayDown = "CRYPTOPAY_INVOICE_FAILED"
	// EventInvoiceLinkFailed: Telegram did not make a Stars order's invoice
	// link; the order expires unpaid, and the next press makes another.
	EventInvoiceLinkFailed = "STARS_INVOICE_LINK_FAILED"
	// EventSessionStarted: a user signed in (field via: miniapp or login).
	EventSessionStarted = "WEBAPP_SESSION_STARTED"
	// EventPurchaseApplied: a plan bought from the balance, as the bot
	// logs it.
	EventPurchaseApplied = "PURCHASE_APPLIED"
)

// Bounds of request bodies: initData is well under 2 KiB (webappauth
// refuses more than its MaxLength), an order is two short strings.
const (
	maxSessionBody = webappauth.MaxLength
	maxOrderBody   = 1 << 10
)

// BotAPI calls the Bot API; *telegram.Client is one. The app calls
// createInvoiceLink only.
type BotAPI interface {
	Call(ctx context.Context, method string, params, result any) error
}

// Activations wakes the activation worker for a period a purchase
// extended; StreamActivations is the one that publishes.
type Activations interface {
	RequestActivation(ctx context.Context, sub shop.Subscription) error
}

// Invoicer makes Crypto Pay invoices; *cryptopay.Client is one.
type Invoicer interface {
	CreateInvoice(ctx context.Context, in cryptopay.CreateInvoice) (cryptopay.Invoice, error)
}

// Config is what a Server needs.
type Config struct {
	Shop *shop.Shop
	// BotToken signs what the app trusts and keys its sessions.
	BotToken string
	// BotUsername makes invite links (t.me/<username>?start=…).
	BotUsername string
	// SessionTTL is a session's life (default an hour); InitDataMaxAge the
	// oldest signature of Telegram exchanged for one (webappauth's default).
	SessionTTL     time.Duration
	InitDataMaxAge time.Duration
	// CryptoPay makes the invoices of orders; nil offers no Crypto Pay.
	CryptoPay Invoicer
	// Activations wakes the activation worker after a purchase; nil leaves
	// the purchase to the worker's next poll.
	Activations Activations
	// Telegram makes the invoice links of Stars orders; nil offers no Stars.
	Telegram BotAPI
	// Channel is the channel users must join; in its scope all, the
	// cabinet is for its members only. nil requires none.
	Channel *channelgate.Checker
	// CryptoAssets are the assets Crypto Pay invoices accept.
	CryptoAssets []string
	// IPRate and IPBurst, UserRate and UserBurst limit requests per
	// address and per signed-in user.
	IPRate    float64
	IPBurst   int
	UserRate  float64
	UserBurst int
	// ClientIPHeader is the header holding the client's address, set by the
	// proxy in front; empty takes the connection's peer.
	ClientIPHeader string
	// RequestTimeout bounds an API request (default 15s).
	RequestTimeout time.Duration
	// FrameAncestors are the origins besides Telegram's that may show the
	// app in a frame (make run's sandbox chat), as CSP sources.
	FrameAncestors []string
	// NowFunc is the clock (default time.Now).
	NowFunc    func() time.Time
	Log        zerolog.Logger
	Registerer prometheus.Registerer
}

// Server is the cabinet's HTTP side. Make it with New.
type Server struct {
	cfg      Config
	policy   string
	verifier *webappauth.Verifier
	sessions sessions
	byIP     *limiter
	byUser   *limiter
	metrics  *metrics
	log      zerolog.Logger
}

// New returns the server of cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Shop == nil {
		return nil, errors.New("webapp: a shop is required")
	}
	if cfg.BotToken == "" {
		return nil, errors.New("webapp: the bot token is required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = time.Hour
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.IPRate <= 0 || cfg.IPBurst < 1 || cfg.UserRate <= 0 || cfg.UserBurst < 1 {
		return nil, errors.New("webapp: the rate limits must be positive")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg:      cfg,
		policy:   strings.Join(append([]string{contentSecurityPolicy}, cfg.FrameAncestors...), " "),
		verifier: webappauth.NewVerifier(cfg.BotToken, cfg.InitDataMaxAge, cfg.NowFunc),
		sessions: newSessions(cfg.BotToken, cfg.SessionTTL, cfg.NowFunc),
		byIP:     newLimiter(cfg.IPRate, cfg.IPBurst, maxLimited),
		byUser:   newLimiter(cfg.UserRate, cfg.UserBurst, maxLimited),
		metrics:  m,
		log:      cfg.Log,
	}, nil
}

// Handler serves the page and its API; every route is counted by route and
// status, answers with the security headers, and the API is limited per
// address. Each API call is a trace of its own, a span named by its route,
// so an order's trace runs from the page's request to the key.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h http.Handler) {
		h = s.instrument(pattern, h)
		if strings.Contains(pattern, "/api/") {
			h = tracing.HTTPHandler(h, pattern)
		}
		mux.Handle(pattern, h)
	}
	route("GET /{$}", http.HandlerFunc(servePage))
	route("GET /login", http.HandlerFunc(s.serveLogin))
	// Where the Login Widget returns: the page, which posts the widget's
	// data to /api/session/login.
	route("GET /login/done", http.HandlerFunc(servePage))
	route("GET /static/", staticFiles())
	route("POST /api/session", s.perIP(http.HandlerFunc(s.startMiniApp)))
	route("POST /api/session/login", s.perIP(http.HandlerFunc(s.startLogin)))
	route("GET /api/session", s.perIP(s.signedIn(s.session)))
	route("GET /api/me", s.perIP(s.signedInReadingBan(s.member(s.me))))
	route("GET /api/setup", s.perIP(http.HandlerFunc(setup)))
	route("GET /api/plans", s.perIP(s.signedIn(s.member(s.plans))))
	route("GET /api/payments", s.perIP(s.signedIn(s.member(s.payments))))
	route("GET /api/invite", s.perIP(s.signedIn(s.member(s.invite))))
	route("GET /api/key/qr", s.perIP(s.signedIn(s.member(s.keyQR))))
	route("POST /api/orders", s.perIP(s.signedIn(s.withCSRF(s.member(s.order)))))
	route("GET /api/channel", s.perIP(s.signedIn(s.channelCheck)))
	// Any other API path or method: a JSON answer too, for the page to read.
	route("/api/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, "No such API call.")
	}))
	return securityHeaders(s.policy, mux)
}

// contentSecurityPolicy lets the page run its own script and style and
// talk to its own API, nothing else: no inline script, no other origin.
// Telegram's clients frame the page (web.telegram.org in a browser); the
// frame-ancestors of Config.FrameAncestors end it.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'self' https://web.telegram.org https://*.telegram.org"

func securityHeaders(policy string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", policy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// apiError is every error the API answers, as JSON: Code for the page to
// branch on, Message for a person, and for codeChannel the link to join.
type apiError struct {
	Code    string `json:"error"`
	Message string `json:"message"`
	JoinURL string `json:"join_url,omitempty"`
}

// Error codes of the API.
const (
	codeUnauthorized = "unauthorized"
	codeOpenBotFirst = "open_bot_first"
	codeBanned       = "banned"
	codeCSRF         = "csrf"
	codeRateLimited  = "rate_limited"
	codeBadRequest   = "bad_request"
	codeUnknownPlan  = "unknown_plan"
	codeNoKey        = "no_key"
	codeNotFound     = "not_found"
	codeProvider     = "unsupported_provider"
	codePaymentsDown = "payments_down"
	codeInsufficient = "insufficient_balance"
	codeOrderClosed  = "order_closed"
	codeChannel      = "channel_required"
	codeInternal     = "internal"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a write error is the client gone
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{Code: code, Message: message})
}

// fail answers 500 for err, logged with what was being done.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error().Ctx(r.Context()).Str("event", EventRequestFailed).Str("path", r.URL.Path).Err(err).Msg("request failed")
	writeError(w, http.StatusInternalServerError, codeInternal, "Something went wrong on our side; try again in a moment.")
}

// clientIP is the address a request is limited by.
func (s *Server) clientIP(r *http.Request) string {
	if s.cfg.ClientIPHeader != "" {
		if ip := net.ParseIP(r.Header.Get(s.cfg.ClientIPHeader)); ip != nil {
			return ip.String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) perIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.byIP.allow(s.clientIP(r)) {
			s.tooMany(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) tooMany(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(1))
	writeError(w, http.StatusTooManyRequests, codeRateLimited, "Too many requests; wait a moment.")
}

// userHandler is an API handler acting for the session's user, the only
// user id it ever sees.
type userHandler func(w http.ResponseWriter, r *http.Request, userID int64)

// signedIn runs h for the user of the request's session: 401 without a
// valid one, 403 for a user the shop does not know or has banned, 429 past
// the user's limit. Every request asks the database about the ban, so a
// ban shuts a session at once.
func (s *Server) signedIn(h userHandler) http.Handler { return s.authed(h, true) }

// signedInReadingBan is signedIn for a handler that reads the user's ban
// itself, with the rest of what it reads (one round trip), and answers it
// with admission.
func (s *Server) signedInReadingBan(h userHandler) http.Handler { return s.authed(h, false) }

func (s *Server) authed(h userHandler, readBan bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(SessionCookie)
		var userID int64
		ok := err == nil
		if ok {
			userID, _, ok = s.sessions.open(c.Value)
		}
		if !ok {
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "Your session has ended; open the app again.")
			return
		}
		if !s.byUser.allow(strconv.FormatInt(userID, 10)) {
			s.tooMany(w)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		if readBan && !s.admitted(w, r, userID) {
			return
		}
		h(w, r, userID)
	})
}

// admitted answers for a user who may not use the app and reports whether
// they may.
func (s *Server) admitted(w http.ResponseWriter, r *http.Request, userID int64) bool {
	bannedAt, err := s.cfg.Shop.Banned(r.Context(), userID)
	return s.admission(w, r, bannedAt, err)
}

// admission answers for a user whose ban, or whose read of it, keeps them
// out and reports whether they may use the app.
func (s *Server) admission(w http.ResponseWriter, r *http.Request, bannedAt *time.Time, err error) bool {
	switch {
	case errors.Is(err, shop.ErrUnknownUser):
		writeError(w, http.StatusForbidden, codeOpenBotFirst, "Open the bot in Telegram and press Start first.")
		return false
	case err != nil:
		s.fail(w, r, err)
		return false
	case bannedAt != nil:
		writeError(w, http.StatusForbidden, codeBanned, "Your account is blocked; contact support.")
		return false
	}
	return true
}

// withCSRF refuses a write whose CSRF header is not its session's:
// SameSite=None sends the cookie with any site's request, so the cookie
// alone proves nothing about who asked.
func (s *Server) withCSRF(h userHandler) userHandler {
	return func(w http.ResponseWriter, r *http.Request, userID int64) {
		c, err := r.Cookie(SessionCookie)
		if err != nil || !s.sessions.csrfValid(c.Value, r.Header.Get(CSRFHeader)) {
			writeError(w, http.StatusForbidden, codeCSRF, "The request was not made by the app; reload it.")
			return
		}
		h(w, r, userID)
	}
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (s *Server) instrument(route string, next http.Handler) http.Handler {
	// Every route's series exist from the start: a dashboard or an alert
	// reads a quiet route as 0, not as missing.
	s.metrics.requests.WithLabelValues(route, strconv.Itoa(http.StatusOK))
	s.metrics.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpnbot_webapp_requests_total",
			Help: "Web app requests by route (the mux pattern) and HTTP status answered.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vpnbot_webapp_request_duration_seconds",
			Help: "Time to answer a web app request, by route; an order includes the Crypto Pay call.",
			// A read is a few indexed queries; an order waits for Crypto Pay.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"route"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering web app metrics: %w", err)
			}
		}
	}
	return m, nil
}
