package marzban

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net/http"
	"slices"
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
	// Username and Password are the one (sudo) admin's credentials that
	// POST /api/admin/token accepts. An empty Username refuses every login.
	Username string
	Password string
	// TokenLifetime is how long an admin token is accepted (default 24h, the
	// panel's JWT_ACCESS_TOKEN_EXPIRE_MINUTES of 1440).
	TokenLifetime time.Duration
	// SubscriptionURLPrefix starts users' subscription URLs, which end in
	// "/sub/<token>". Empty gives the panel's default: a URL relative to the
	// panel, "/sub/<token>".
	SubscriptionURLPrefix string
	// ServerAddress is the host the share links point at (default 127.0.0.1).
	ServerAddress string
	// Inbounds are the Xray inbounds the panel serves (default one for each
	// of vless, vmess, trojan and shadowsocks). A protocol without one is
	// "disabled on your server".
	Inbounds []Inbound
	// StateDir, when set, is the folder where the server keeps its users and
	// its secret key across restarts: Start restores them, a snapshot is
	// written within SaveInterval of a change and at Close. Empty keeps
	// everything in memory.
	StateDir string
	// SaveInterval is how often, at most, the snapshot is written while
	// things change (default 1s).
	SaveInterval time.Duration
	// Now is the server's clock (default time.Now): token lifetimes, user
	// expiry and subscription tokens follow it, so a test can move it on.
	Now func() time.Time
	// Log receives the server's own logs.
	Log zerolog.Logger
}

// Inbound is one Xray inbound: the tag users' inbounds name, its protocol
// and the port its share links carry.
type Inbound struct {
	Tag      string `json:"tag"`
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
}

// Protocols, as the panel's proxies and inbounds name them.
const (
	VLESS       = "vless"
	VMess       = "vmess"
	Trojan      = "trojan"
	Shadowsocks = "shadowsocks"
)

// User statuses, as the panel names them.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
	StatusLimited  = "limited"
	StatusExpired  = "expired"
	StatusOnHold   = "on_hold"
)

var defaultInbounds = []Inbound{
	{Tag: "VLESS TCP REALITY", Protocol: VLESS, Port: 443},
	{Tag: "VMess Websocket", Protocol: VMess, Port: 8080},
	{Tag: "Trojan Websocket TLS", Protocol: Trojan, Port: 8443},
	{Tag: "Shadowsocks TCP", Protocol: Shadowsocks, Port: 1080},
}

const (
	defaultTokenLifetime = 24 * time.Hour
	defaultSaveInterval  = time.Second
	defaultServerAddress = "127.0.0.1"
	// stateFile is the file under Config.StateDir that holds the state.
	stateFile = "state.json"
)

// Proxy is a user's credentials for one protocol: an id for vless and
// vmess, a password for trojan and shadowsocks.
type Proxy struct {
	ID       string `json:"id,omitempty"`
	Password string `json:"password,omitempty"`
	Flow     string `json:"flow,omitempty"`
	Method   string `json:"method,omitempty"`
}

// User is a panel user as the server holds it.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	// Status is what the panel reports now: its review job turns an active
	// user limited once the traffic reaches the limit, or expired once
	// Expire has passed.
	Status string `json:"status"`
	// Expire is the expiry in Unix seconds; 0 is none.
	Expire int64 `json:"expire"`
	// DataLimit is the traffic limit in bytes; 0 is unlimited.
	DataLimit              int64               `json:"data_limit"`
	DataLimitResetStrategy string              `json:"data_limit_reset_strategy"`
	UsedTraffic            int64               `json:"used_traffic"`
	Proxies                map[string]Proxy    `json:"proxies"`
	Inbounds               map[string][]string `json:"inbounds"`
	Note                   string              `json:"note"`
	OnHoldExpireDuration   int64               `json:"on_hold_expire_duration,omitempty"`
	CreatedAt              time.Time           `json:"created_at"`
	SubRevokedAt           time.Time           `json:"sub_revoked_at,omitzero"`
	SubUpdatedAt           time.Time           `json:"sub_updated_at,omitzero"`
	SubLastUserAgent       string              `json:"sub_last_user_agent,omitempty"`
}

// Server is a fake Marzban panel. Create it with New, serve it with Start
// (or mount Handler yourself) and always Close it.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	now      func() time.Time
	inbounds map[string]Inbound // by tag
	api      *fakehttp.API
	control  *http.ServeMux
	web      *fakehttp.Server // serves s.serve and counts its requests; locks itself

	// ctx is cancelled by Close; every request served watches it, so Close
	// can release hangs and wait for them.
	ctx    context.Context
	cancel context.CancelFunc

	faults *fault.Injector[struct{}] // locks itself

	// saver writes the state to Config.StateDir (nil without one).
	saver *statefile.Saver

	mu sync.Mutex
	// secret signs admin and subscription tokens; kept across restarts, as
	// the panel keeps its JWT secret in its database.
	secret string
	users  map[string]*User // by username
	nextID int64
}

// New returns a server for cfg. It starts nothing until Start.
func New(cfg Config) *Server {
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = defaultTokenLifetime
	}
	if cfg.SaveInterval <= 0 {
		cfg.SaveInterval = defaultSaveInterval
	}
	if cfg.ServerAddress == "" {
		cfg.ServerAddress = defaultServerAddress
	}
	if cfg.Inbounds == nil {
		cfg.Inbounds = defaultInbounds
	}
	cfg.SubscriptionURLPrefix = strings.TrimSuffix(cfg.SubscriptionURLPrefix, "/")
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:      cfg,
		log:      cfg.Log.With().Str("component", "sandbox-marzban").Logger(),
		now:      now,
		inbounds: map[string]Inbound{},
		ctx:      ctx,
		cancel:   cancel,
		faults:   fault.New[struct{}](fault.FoldCase),
		secret:   randomHex(32),
		users:    map[string]*User{},
		nextID:   1,
	}
	for _, in := range cfg.Inbounds {
		s.inbounds[in.Tag] = in
	}
	s.routeAPI()
	s.routeControl()
	s.web = fakehttp.New(fakehttp.Config{
		Name:    "marzban sandbox",
		Handler: http.HandlerFunc(s.serve),
		UnavailableFunc: func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusServiceUnavailable, detail("Service Unavailable"))
		},
		Log: s.log,
	})
	return s
}

// Handler serves the panel API under /api/, subscriptions under /sub/ and
// the sandbox control API under /sandbox/.
func (s *Server) Handler() http.Handler { return s.web.Handler() }

// serve sends a request to the control API or the panel.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/sandbox/") {
		s.control.ServeHTTP(w, r)
		return
	}
	s.api.Mux.ServeHTTP(w, r)
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

// URL is the panel's base URL (the API is under /api), e.g.
// http://127.0.0.1:PORT; empty before Start.
func (s *Server) URL() string { return s.web.URL() }

// Close stops serving, releases hanging requests and waits for all of them,
// then writes the state to Config.StateDir. It is safe to call more than once.
func (s *Server) Close() {
	s.web.Close(func() {
		s.cancel()
		s.faults.Close()
	})
	s.closeState()
}

// Users returns the users in creation order, with their status as the panel
// reports it now.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]User, 0, len(s.users))
	for _, u := range s.sortedLocked() {
		u.review(now)
		out = append(out, u.clone())
	}
	return out
}

// User returns the user with username, if it exists.
func (s *Server) User(username string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[username]
	if u == nil {
		return User{}, false
	}
	u.review(s.now())
	return u.clone(), true
}

// Requests counts the calls a route received (as named in the package doc,
// e.g. "POST /api/user"), refused and failed ones included; "" counts all.
// Subscription fetches are not counted.
func (s *Server) Requests(route string) int { return s.api.Requests(route) }

// DriftDelete deletes the user as an operator would in the dashboard; false
// when there is no such user.
func (s *Server) DriftDelete(username string) bool {
	return s.drift(username, func(*User) bool {
		delete(s.users, username)
		return true
	})
}

// DriftDisable disables the user as an operator would; false when there is
// no such user.
func (s *Server) DriftDisable(username string) bool {
	return s.drift(username, func(u *User) bool {
		u.Status = StatusDisabled
		return true
	})
}

// DriftExpiry sets the user's expiry to t (zero: none) as an operator would
// in the dashboard, which makes an active or expired user active or expired
// by the new date; false when there is no such user.
func (s *Server) DriftExpiry(username string, t time.Time) bool {
	return s.drift(username, func(u *User) bool {
		var expire int64
		if !t.IsZero() {
			expire = t.Unix()
		}
		u.setExpire(expire, s.now())
		return true
	})
}

// DriftUsage sets the traffic the user has used, as the nodes would report
// it; the panel marks an active user limited once it reaches the limit.
// False when there is no such user.
func (s *Server) DriftUsage(username string, bytes int64) bool {
	return s.drift(username, func(u *User) bool {
		u.UsedTraffic = bytes
		return true
	})
}

func (s *Server) drift(username string, fn func(*User) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[username]
	if u == nil {
		return false
	}
	u.review(s.now())
	ok := fn(u)
	u.review(s.now())
	s.changedLocked()
	return ok
}

// sortedLocked returns the users in creation order.
func (s *Server) sortedLocked() []*User {
	return slices.SortedFunc(maps.Values(s.users), func(a, b *User) int { return int(a.ID - b.ID) })
}

// changedLocked tells the saver the state changed.
func (s *Server) changedLocked() {
	if s.saver != nil {
		s.saver.Changed()
	}
}

// review does what the panel's review job does every few seconds: an active
// user over its data limit turns limited, one past its expiry expired.
func (u *User) review(now time.Time) {
	if u.Status != StatusActive {
		return
	}
	switch {
	case u.DataLimit > 0 && u.UsedTraffic >= u.DataLimit:
		u.Status = StatusLimited
	case u.Expire > 0 && u.Expire <= now.Unix():
		u.Status = StatusExpired
	}
}

// setExpire sets the expiry as the panel's update does: an active or
// expired user becomes active by a future (or no) expiry, expired by a past one.
func (u *User) setExpire(expire int64, now time.Time) {
	u.Expire = expire
	if u.Status != StatusActive && u.Status != StatusExpired {
		return
	}
	if expire == 0 || expire > now.Unix() {
		u.Status = StatusActive
	} else {
		u.Status = StatusExpired
	}
}

// setDataLimit sets the limit as the panel's update does: a user neither
// expired nor disabled becomes limited by a limit its traffic reached,
// active (unless on hold) otherwise.
func (u *User) setDataLimit(limit int64) {
	u.DataLimit = limit
	if u.Status == StatusExpired || u.Status == StatusDisabled {
		return
	}
	if limit == 0 || u.UsedTraffic < limit {
		if u.Status != StatusOnHold {
			u.Status = StatusActive
		}
		return
	}
	u.Status = StatusLimited
}

func (u *User) clone() User {
	c := *u
	c.Proxies = maps.Clone(u.Proxies)
	c.Inbounds = make(map[string][]string, len(u.Inbounds))
	for k, v := range u.Inbounds {
		c.Inbounds[k] = slices.Clone(v)
	}
	return c
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b)
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
