package xui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
	"github.com/vpnbot/vpnbot/pkg/sandbox/fault"
	"github.com/vpnbot/vpnbot/pkg/statefile"
)

// Config sets up a Server. Zero values take the defaults documented on each field.
type Config struct {
	// Version is the panel release served, "major.minor" or
	// "major.minor.patch", from 2.8 on (default DefaultVersion). It chooses
	// the line: before 3.0 no CSRF and the inbound client routes; 3.0 CSRF
	// and the same routes; from 3.1 CSRF and /panel/api/clients/*.
	Version string
	// Username and Password are the panel's one admin login (default
	// "admin", "admin", as the installer leaves them).
	Username, Password string
	// WebBasePath is where the panel is served, with slashes on both ends
	// (default "/"; installers pick a random one such as "/Xk3pQ/").
	WebBasePath string
	// StateDir, when set, is the folder where the server keeps its inbounds
	// and clients across a restart (pkg/statefile): read at Start, written
	// within SaveInterval of a change and at Close. Sessions are not kept:
	// after a restart every client logs in again. Empty keeps all in memory.
	StateDir string
	// SaveInterval is how often, at most, the state is written while it
	// changes (default one second).
	SaveInterval time.Duration
	// Log receives the server's own logs.
	Log zerolog.Logger
}

// DefaultVersion is the release a zero Config.Version serves: the current 3.x.
const DefaultVersion = "3.6.0"

// InboundID is the id of the inbound the server starts with: VLESS on port
// 443 holding one client an operator made with it, as the panel's form
// makes every inbound with a first client.
const InboundID = 1

// SubPath is where the subscription server answers, "<SubPath><subId>",
// as the panel's default subscription path.
const SubPath = "/sub/"

const (
	defaultSaveInterval = time.Second
	stateFile           = "state.json"
	sessionCookie       = "3x-ui" // the panel's session cookie name
)

// Client is an inbound's client as the server holds it: the fields of the
// inbound's settings JSON, and the traffic the panel counts per email.
type Client struct {
	ID         string `json:"id"`
	Email      string `json:"email"`
	Enable     bool   `json:"enable"`
	ExpiryTime int64  `json:"expiryTime"` // unix ms; 0 never
	TotalGB    int64  `json:"totalGB"`    // bytes, despite the name; 0 unlimited
	SubID      string `json:"subId"`
	LimitIP    int    `json:"limitIp"`
	TgID       int64  `json:"tgId"`
	Comment    string `json:"comment"`
	Flow       string `json:"flow"`
	Reset      int    `json:"reset"`
	CreatedAt  int64  `json:"created_at"`
	UpdatedAt  int64  `json:"updated_at"`
	// Up and Down are the bytes used, kept in the panel's client_traffics.
	Up   int64 `json:"up"`
	Down int64 `json:"down"`
}

// Inbound is one of the panel's inbounds.
type Inbound struct {
	ID       int       `json:"id"`
	Remark   string    `json:"remark"`
	Protocol string    `json:"protocol"`
	Port     int       `json:"port"`
	Tag      string    `json:"tag"`
	Enable   bool      `json:"enable"`
	Clients  []*Client `json:"clients"`
}

// line is what a release serves differently.
type line struct {
	csrf       bool // 3.0 on: cookie sessions need the CSRF token
	clientsAPI bool // 3.1 on: /panel/api/clients/* instead of the inbound client routes
}

// session is one browser (or adapter) session, kept server side.
type session struct {
	csrf     string
	loggedIn bool
}

// Server is a fake 3x-ui panel with its subscription server. Create it with
// New, serve it with Start (or mount Handler yourself) and always Close it.
type Server struct {
	cfg     Config
	line    line
	log     zerolog.Logger
	api     *fakehttp.API  // panel routes, relative to the web base path
	control *http.ServeMux // /sandbox/...
	web     *fakehttp.Server

	// ctx is cancelled by Close; every request served watches it, so Close
	// can release hangs and wait for them.
	ctx    context.Context
	cancel context.CancelFunc

	faults *fault.Injector[struct{}] // locks itself

	mu       sync.Mutex
	inbounds []*Inbound
	sessions map[string]*session
	logins   int
	saver    *statefile.Saver // nil without a StateDir
}

// New returns a server for cfg. It starts nothing until Start.
func New(cfg Config) (*Server, error) {
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	ln, err := parseVersion(cfg.Version)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" {
		cfg.Username = "admin"
	}
	if cfg.Password == "" {
		cfg.Password = "admin"
	}
	if cfg.WebBasePath == "" {
		cfg.WebBasePath = "/"
	}
	if !strings.HasPrefix(cfg.WebBasePath, "/") || !strings.HasSuffix(cfg.WebBasePath, "/") {
		return nil, fmt.Errorf("3x-ui sandbox: web base path %q: want slashes on both ends", cfg.WebBasePath)
	}
	if cfg.SaveInterval <= 0 {
		cfg.SaveInterval = defaultSaveInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Now().UnixMilli()
	s := &Server{
		cfg:    cfg,
		line:   ln,
		log:    cfg.Log.With().Str("component", "sandbox-3x-ui").Logger(),
		ctx:    ctx,
		cancel: cancel,
		faults: fault.New[struct{}](fault.FoldCase),
		inbounds: []*Inbound{{
			ID: InboundID, Remark: "vless-443", Protocol: "vless", Port: 443, Tag: "inbound-443", Enable: true,
			Clients: []*Client{{
				ID: newUUID(), Email: randomText(8), Enable: true, SubID: randomText(16),
				CreatedAt: now, UpdatedAt: now,
			}},
		}},
		sessions: map[string]*session{},
	}
	s.routeAPI()
	s.routeControl()
	s.web = fakehttp.New(fakehttp.Config{
		Name:    "3x-ui sandbox",
		Handler: http.HandlerFunc(s.serve),
		UnavailableFunc: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		},
		Log: s.log,
	})
	return s, nil
}

// parseVersion tells the line of a release.
func parseVersion(v string) (line, error) {
	parts := strings.Split(v, ".")
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := 0, error(nil)
	if len(parts) > 1 {
		minor, err2 = strconv.Atoi(parts[1])
	}
	if err1 != nil || err2 != nil || len(parts) > 3 || major < 2 || major > 3 || (major == 2 && minor < 8) {
		return line{}, fmt.Errorf("3x-ui sandbox: version %q: want 2.8 to 3.x", v)
	}
	return line{csrf: major >= 3, clientsAPI: major > 3 || (major == 3 && minor >= 1)}, nil
}

// Handler serves the panel under Config.WebBasePath, the subscription
// server under SubPath and the sandbox control API under /sandbox/.
func (s *Server) Handler() http.Handler { return s.web.Handler() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/sandbox/"):
		s.control.ServeHTTP(w, r)
	case strings.HasPrefix(p, SubPath):
		s.serveSub(w, r)
	case strings.HasPrefix(p, s.cfg.WebBasePath):
		r2 := r.Clone(context.WithValue(r.Context(), writerKey{}, w))
		r2.URL.Path = "/" + strings.TrimPrefix(p, s.cfg.WebBasePath)
		r2.URL.RawPath = ""
		s.api.Mux.ServeHTTP(w, r2)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// Start restores the state of Config.StateDir, then listens on addr (e.g.
// "127.0.0.1:0") and serves Handler in the background until Close.
func (s *Server) Start(addr string) error {
	if err := s.restore(); err != nil {
		return err
	}
	if err := s.web.Start(addr); err != nil {
		s.closeState()
		return err
	}
	return nil
}

// URL is the panel's URL with its web base path, e.g.
// http://127.0.0.1:PORT/ or http://127.0.0.1:PORT/Xk3pQ/; empty before Start.
func (s *Server) URL() string {
	u := s.web.URL()
	if u == "" {
		return ""
	}
	return u + s.cfg.WebBasePath
}

// SubscriptionURL is the base of the subscription links, without the
// trailing slash: a client's link is SubscriptionURL()+"/"+subId.
func (s *Server) SubscriptionURL() string {
	return s.web.URL() + strings.TrimSuffix(SubPath, "/")
}

// Close stops serving, releases hanging requests and waits for all of them,
// then writes the state to Config.StateDir. It is safe to call more than once.
func (s *Server) Close() {
	s.web.Close(func() {
		s.cancel()
		s.faults.Close()
	})
	s.closeState()
}

// Requests counts the calls a route received (as named in the package doc,
// e.g. "POST /panel/api/clients/add"), refused and failed ones included; ""
// counts all.
func (s *Server) Requests(route string) int { return s.api.Requests(route) }

// Logins counts the successful logins.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// ExpireSessions ends every session, as the panel does when a session's
// max age passes: the next API call answers 404 until the client logs in
// again.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

// Users returns the clients of every inbound, in order, as the panel has
// them now (its job has disabled the expired and depleted ones).
func (s *Server) Users() []Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	var out []Client
	for _, in := range s.inbounds {
		for _, c := range in.Clients {
			out = append(out, *c)
		}
	}
	return out
}

// Accounts counts the clients of every inbound.
func (s *Server) Accounts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.countLocked()
}

// DriftDelete removes the client email as an operator would in the panel;
// false when there is none.
func (s *Server) DriftDelete(email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, i := s.findLocked(email)
	if in == nil {
		return false
	}
	in.Clients = append(in.Clients[:i:i], in.Clients[i+1:]...)
	s.changedLocked()
	return true
}

// DriftDisable turns the client email off as an operator would; false when
// there is none.
func (s *Server) DriftDisable(email string) bool {
	return s.drift(email, func(c *Client) { c.Enable = false })
}

// DriftExpiry moves the client's expiry to t as an operator would (zero:
// never); false when there is no such client. A past t disables it, as the
// panel's job does.
func (s *Server) DriftExpiry(email string, t time.Time) bool {
	return s.drift(email, func(c *Client) { c.ExpiryTime = unixMilli(t) })
}

// AddTraffic counts bytes of traffic for the client email, as Xray would
// report them; false when there is no such client. A client whose traffic
// reaches its limit is disabled, as the panel's job does.
func (s *Server) AddTraffic(email string, bytes int64) bool {
	return s.drift(email, func(c *Client) { c.Down += bytes })
}

func (s *Server) drift(email string, change func(*Client)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, i := s.findLocked(email)
	if in == nil {
		return false
	}
	change(in.Clients[i])
	in.Clients[i].UpdatedAt = time.Now().UnixMilli()
	s.sweepLocked()
	s.changedLocked()
	return true
}

// Accepts reports whether the panel's Xray takes a connection from the VLESS
// id: a client of an enabled inbound, enabled, neither expired nor depleted.
func (s *Server) Accepts(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	for _, in := range s.inbounds {
		for _, c := range in.Clients {
			if in.Enable && c.ID == id && c.Enable {
				return true
			}
		}
	}
	return false
}

// sweepLocked disables the clients that expired or used up their traffic,
// as the panel's traffic job does every few seconds.
func (s *Server) sweepLocked() {
	now := time.Now().UnixMilli()
	for _, in := range s.inbounds {
		for _, c := range in.Clients {
			if c.Enable && ((c.ExpiryTime > 0 && c.ExpiryTime <= now) || (c.TotalGB > 0 && c.Up+c.Down >= c.TotalGB)) {
				c.Enable = false
				s.changedLocked()
			}
		}
	}
}

// findLocked finds the client email (compared as the panel does, ignoring
// case) in any inbound.
func (s *Server) findLocked(email string) (*Inbound, int) {
	for _, in := range s.inbounds {
		for i, c := range in.Clients {
			if strings.EqualFold(c.Email, email) {
				return in, i
			}
		}
	}
	return nil, -1
}

func (s *Server) inboundLocked(id int) *Inbound {
	for _, in := range s.inbounds {
		if in.ID == id {
			return in
		}
	}
	return nil
}

// sessionOf returns the request's session, if its cookie names one, and
// whether it is logged in.
func (s *Server) sessionOf(r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[c.Value]
	return sess, sess != nil && sess.loggedIn
}

// newSession starts a session and sets its cookie on w.
func (s *Server) newSession(w http.ResponseWriter) *session {
	id := randomText(32)
	sess := &session{}
	s.mu.Lock()
	s.sessions[id] = sess
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: s.cfg.WebBasePath, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return sess
}

// csrfOK checks the X-CSRF-Token header against the session's token.
func (s *Server) csrfOK(r *http.Request, sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := sess.csrf
	got := r.Header.Get("X-CSRF-Token")
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomText returns n random lowercase letters and digits, as the panel's
// forms make emails and subscription ids.
func randomText(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// csrfToken returns a token as the panel mints them.
func csrfToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}
