package keyserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/ssconf"
)

// EventKeyFailed is a request the key server could not answer: the
// database failed, or an account's recorded key is not a valid ss:// URL.
const EventKeyFailed = "KEY_SERVE_FAILED"

// Outcomes of a request, the label of the requests metric.
const (
	outcomeServed  = "served"
	outcomeUnknown = "unknown"
	outcomeError   = "error"
)

const (
	// queryTimeout bounds a request's database read: a client waits for
	// its key, and retries.
	queryTimeout = 5 * time.Second
	// maxTokenLen is longer than any token the schema makes; a longer one
	// is unknown without asking the database.
	maxTokenLen = 64
)

// keySQL reads the key of the account whose link token is $1, if its user
// has a live access on the account's panel (an active period whose access
// was not revoked) and is not banned: a ban stops the key here at once,
// before activation disables the account on the panel.
const keySQL = `
SELECT c.access_url FROM vpn_accounts c
WHERE c.link_token = $1 AND EXISTS (
	SELECT 1 FROM subscriptions s JOIN vpn_accesses a ON a.subscription_id = s.id
	WHERE s.user_id = c.user_id AND s.status = 'active' AND a.revoked_at IS NULL AND a.panel = c.panel)
  AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.user_id AND u.banned_at IS NOT NULL)`

// Server answers dynamic keys from the database. Make it with New.
type Server struct {
	pool     *pgxpool.Pool
	log      zerolog.Logger
	requests *prometheus.CounterVec
}

// New returns a key server reading pool. Its metric is registered on reg
// (nil: not exported).
func New(pool *pgxpool.Pool, log zerolog.Logger, reg prometheus.Registerer) (*Server, error) {
	if pool == nil {
		return nil, errors.New("keyserver: a pool is required")
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_keyserver_requests_total",
		Help: "Dynamic key requests by outcome: served, unknown (404: no such token, or no live access), error (500).",
	}, []string{"outcome"})
	if reg != nil {
		if err := reg.Register(requests); err != nil {
			return nil, fmt.Errorf("registering key server metrics: %w", err)
		}
	}
	for _, o := range []string{outcomeServed, outcomeUnknown, outcomeError} {
		requests.WithLabelValues(o)
	}
	return &Server{pool: pool, log: log, requests: requests}, nil
}

// Handler serves ssconf.Pattern; anything else is 404.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(ssconf.Pattern, s.serveKey)
	return mux
}

func (s *Server) serveKey(w http.ResponseWriter, r *http.Request) {
	cfg, found, err := s.key(r.Context(), r.PathValue(ssconf.TokenParam))
	switch {
	case err != nil:
		s.requests.WithLabelValues(outcomeError).Inc()
		s.log.Error().Str("event", EventKeyFailed).Err(err).Msg("dynamic key not served")
		http.Error(w, "the key cannot be read now; try again", http.StatusInternalServerError)
	case !found:
		s.requests.WithLabelValues(outcomeUnknown).Inc()
		http.NotFound(w, r)
	default:
		s.requests.WithLabelValues(outcomeServed).Inc()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(cfg) // a write error is the client gone
	}
}

// key is the configuration the link with token answers; found is false
// when it answers none.
func (s *Server) key(ctx context.Context, token string) (cfg ssconf.Config, found bool, err error) {
	if token == "" || len(token) > maxTokenLen {
		return ssconf.Config{}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var key string
	err = s.pool.QueryRow(ctx, keySQL, token).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return ssconf.Config{}, false, nil
	}
	if err != nil {
		return ssconf.Config{}, false, fmt.Errorf("reading the key of a dynamic link: %w", err)
	}
	cfg, err = ssconf.ParseKey(key)
	if errors.Is(err, ssconf.ErrNotShadowsocks) {
		return ssconf.Config{}, false, nil
	}
	if err != nil {
		return ssconf.Config{}, false, fmt.Errorf("reading the key of a dynamic link: %w", err)
	}
	return cfg, true, nil
}
