package remnawave

import (
	"context"
	"crypto/subtle"
	"net/http"
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
	// Token is the one API token accepted as "Authorization: Bearer <token>".
	// Empty refuses every API call.
	Token string
	// Version is the major version of the panel's API served: 2 (users
	// addressed by uuid) or 3 (by numeric id, listed with users/stream).
	// Zero is 2.
	Version int
	// SubscriptionBaseURL starts users' subscription URLs, which end in
	// "/<shortUuid>" (default: http://<the request's host>/api/sub, which
	// the server answers itself).
	SubscriptionBaseURL string
	// StateDir, when set, is the folder where the server keeps its users
	// and ids across restarts: Start restores them, a snapshot is written
	// within SaveInterval of a change and at Close. A SIGKILL loses the
	// changes of the last SaveInterval at most, but no id: ids are reserved
	// on disk before they are handed out. Empty keeps everything in memory.
	StateDir string
	// SaveInterval is how often, at most, the snapshot is written while
	// users change (default 1s).
	SaveInterval time.Duration
	// Log receives the server's own logs.
	Log zerolog.Logger
}

// User statuses, as the panel names them.
const (
	StatusActive   = "ACTIVE"
	StatusDisabled = "DISABLED"
	StatusLimited  = "LIMITED"
	StatusExpired  = "EXPIRED"
)

// User is a panel user as the server holds it.
type User struct {
	UUID      string `json:"uuid"`
	ID        int64  `json:"id"`
	ShortUUID string `json:"shortUuid"`
	Username  string `json:"username"`
	// Status is what the panel reports now: EXPIRED once ExpireAt has passed
	// for a user that is otherwise ACTIVE.
	Status               string    `json:"status"`
	ExpireAt             time.Time `json:"expireAt"`
	TrafficLimitBytes    int64     `json:"trafficLimitBytes"`
	TrafficLimitStrategy string    `json:"trafficLimitStrategy"`
	Description          *string   `json:"description"`
	Tag                  *string   `json:"tag"`
	TelegramID           *int64    `json:"telegramId"`
	Email                *string   `json:"email"`
	ActiveInternalSquads []string  `json:"activeInternalSquads"`
	VlessUUID            string    `json:"vlessUuid"`
	TrojanPassword       string    `json:"trojanPassword"`
	SSPassword           string    `json:"ssPassword"`
	SubscriptionURL      string    `json:"subscriptionUrl"`
	SubRevokedAt         time.Time `json:"subRevokedAt,omitzero"`
	CreatedAt            time.Time `json:"createdAt"`
	UpdatedAt            time.Time `json:"updatedAt"`
}

// Server is a fake Remnawave panel. Create it with New, serve it with Start
// (or mount Handler yourself) and always Close it.
type Server struct {
	cfg     Config
	log     zerolog.Logger
	api     *fakehttp.API
	control *http.ServeMux
	web     *fakehttp.Server // serves s.serve and counts its requests; locks itself

	// ctx is cancelled by Close; every request served watches it, so Close
	// can release hangs and wait for them.
	ctx    context.Context
	cancel context.CancelFunc

	faults *fault.Injector[struct{}] // locks itself

	mu     sync.Mutex
	users  map[string]*User // by uuid, which 3.x keeps but no longer shows
	order  []string         // uuids in creation order, which is id order
	nextID int64
	// saver writes the users to Config.StateDir (nil without one);
	// reserved is the id below which none is handed out unreserved.
	saver    *statefile.Saver
	reserved int64
}

// The versions Config.Version chooses from.
const (
	Version2 = 2
	Version3 = 3
)

// The versions GET /api/system/metadata reports, the latest releases the
// sandbox follows of each major version.
const (
	version2Release = "2.8.1"
	version3Release = "3.3.2"
)

// New returns a server for cfg. It starts nothing until Start.
func New(cfg Config) *Server {
	if cfg.Version != Version3 {
		cfg.Version = Version2
	}
	if cfg.SaveInterval <= 0 {
		cfg.SaveInterval = defaultSaveInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		log:    cfg.Log.With().Str("component", "sandbox-remnawave").Logger(),
		ctx:    ctx,
		cancel: cancel,
		users:  map[string]*User{},
		nextID: 1,
		faults: fault.New[struct{}](fault.FoldCase),
	}
	s.routeAPI()
	s.routeControl()
	s.web = fakehttp.New(fakehttp.Config{
		Name:    "remnawave sandbox",
		Handler: http.HandlerFunc(s.serve),
		UnavailableFunc: func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusServiceUnavailable, nestError{StatusCode: http.StatusServiceUnavailable, Message: "Service Unavailable"})
		},
		Log: s.log,
	})
	return s
}

// Handler serves the panel API under /api/ and the sandbox control API
// under /sandbox/.
func (s *Server) Handler() http.Handler { return s.web.Handler() }

// serve sends a request to the control API or the panel API.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/sandbox/") {
		s.control.ServeHTTP(w, r)
		return
	}
	s.api.Mux.ServeHTTP(w, r)
}

// Start restores the users of Config.StateDir, then listens on addr (e.g.
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

// Version is the major version of the API served: Version2 or Version3.
func (s *Server) Version() int { return s.cfg.Version }

// URL is the panel's base URL (the API is under /api), e.g.
// http://127.0.0.1:PORT; empty before Start.
func (s *Server) URL() string { return s.web.URL() }

// Close stops serving, releases hanging requests and waits for all of them,
// then writes the users to Config.StateDir. It is safe to call more than
// once.
func (s *Server) Close() {
	// Hung handlers return once the context is cancelled and the faults are
	// closed; the server waits for them.
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
	now := time.Now()
	out := make([]User, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.users[id].view(now))
	}
	return out
}

// User returns the user with username, if it exists.
func (s *Server) User(username string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byUsernameLocked(username)
	if u == nil {
		return User{}, false
	}
	return u.view(time.Now()), true
}

// Accounts counts the users.
func (s *Server) Accounts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}

// Requests counts the calls a route received (as named in the package doc,
// e.g. "POST /api/users"), refused and failed ones included; "" counts all.
func (s *Server) Requests(route string) int { return s.api.Requests(route) }

func (s *Server) byUsernameLocked(username string) *User {
	for _, id := range s.order {
		if u := s.users[id]; u.Username == username {
			return u
		}
	}
	return nil
}

// authorized checks the bearer token in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return false
	}
	want := []byte("Bearer " + s.cfg.Token)
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) == 1
}

// view is a copy of u with the status the panel would report at now.
func (u *User) view(now time.Time) User {
	c := *u
	c.ActiveInternalSquads = append([]string(nil), u.ActiveInternalSquads...)
	if c.Status == StatusActive && !c.ExpireAt.After(now) {
		c.Status = StatusExpired
	}
	return c
}
