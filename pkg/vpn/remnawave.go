package vpn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RemnawaveConfig sets up a Remnawave adapter.
type RemnawaveConfig struct {
	// BaseURL is the panel's URL without /api, e.g. https://panel.example.com.
	BaseURL string
	// Token is an API token made in the panel; it is sent as a bearer token.
	Token string
	// Timeout bounds each HTTP request (default DefaultTimeout).
	Timeout time.Duration
	// NamePrefix starts every username this bot makes (default DefaultNamePrefix).
	NamePrefix string
	// SquadUUIDs are the internal squads new users join. Remnawave serves a
	// user only the inbounds of their squads, so a panel with squads needs
	// them here or its users get an empty subscription.
	SquadUUIDs []string
}

// Remnawave provisions users on a Remnawave panel. A user's username is
// "<prefix>_<subscription id>"; Create looks it up before creating it, and a
// create that loses a race to another is answered by reading the winner's.
// The panel enforces the expiry itself (the user turns EXPIRED at expireAt).
type Remnawave struct {
	api    *apiClient
	prefix string
	squads []string
}

var _ Provisioner = (*Remnawave)(nil)

// NewRemnawave returns an adapter for cfg. It makes no request.
func NewRemnawave(cfg RemnawaveConfig) (*Remnawave, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("remnawave BaseURL must be an http(s):// URL with a host")
	}
	if cfg.Token == "" {
		return nil, errors.New("remnawave Token is empty")
	}
	prefix, err := namePrefix(cfg.NamePrefix)
	if err != nil {
		return nil, fmt.Errorf("remnawave: %w", err)
	}
	header := http.Header{}
	header.Set("Authorization", "Bearer "+cfg.Token)
	return &Remnawave{
		api:    newAPIClient("remnawave", strings.TrimSuffix(u.String(), "/")+"/api", header, nil, cfg.Timeout),
		prefix: prefix,
		squads: cfg.SquadUUIDs,
	}, nil
}

// Name is "remnawave".
func (r *Remnawave) Name() string { return "remnawave" }

// Close releases idle connections to the panel.
func (r *Remnawave) Close() error {
	r.api.Close()
	return nil
}

// Remnawave's user statuses; the panel sets LIMITED and EXPIRED itself.
const (
	rwActive   = "ACTIVE"
	rwDisabled = "DISABLED"
)

// rwUser is the part of Remnawave's user object the adapter reads.
type rwUser struct {
	UUID            string    `json:"uuid"`
	ShortUUID       string    `json:"shortUuid"`
	Username        string    `json:"username"`
	Status          string    `json:"status"`
	ExpireAt        time.Time `json:"expireAt"`
	SubscriptionURL string    `json:"subscriptionUrl"`
}

// rwCreateUser is the body of POST /api/users.
type rwCreateUser struct {
	Username             string   `json:"username"`
	Status               string   `json:"status"`
	ExpireAt             string   `json:"expireAt"`
	TrafficLimitBytes    int64    `json:"trafficLimitBytes"`
	TrafficLimitStrategy string   `json:"trafficLimitStrategy"`
	Description          string   `json:"description,omitempty"`
	ActiveInternalSquads []string `json:"activeInternalSquads,omitempty"`
}

// rwUpdateUser is the body of PATCH /api/users.
type rwUpdateUser struct {
	UUID     string `json:"uuid"`
	Status   string `json:"status"`
	ExpireAt string `json:"expireAt"`
}

// rwError is the panel's error body: its own ({message, errorCode}) or a
// validation failure ({message, errors: [{message, path}]}).
type rwError struct {
	Message   json.RawMessage `json:"message"`
	ErrorCode string          `json:"errorCode"`
	Errors    []struct {
		Message string `json:"message"`
		Path    []any  `json:"path"`
	} `json:"errors"`
}

// text renders the error for an operator.
func (e rwError) text() string {
	parts := []string{e.ErrorCode, messageText(e.Message)}
	for _, v := range e.Errors {
		parts = append(parts, fmt.Sprintf("%v: %s", v.Path, v.Message))
	}
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), "; ")
}

// rwUsernameTaken is Remnawave's A019 "User username already exists".
const rwUsernameTaken = "A019"

// rwTime formats a time as the panel's ISO strings (JavaScript's toISOString).
func rwTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (r *Remnawave) username(subscriptionID int64) string {
	return r.prefix + "_" + strconv.FormatInt(subscriptionID, 10)
}

// Create returns the user "<prefix>_<subscription id>", creating it active
// until p.ExpiresAt if it does not exist. An existing user is returned as it
// is, whatever its status and expiry: Extend moves the expiry.
func (r *Remnawave) Create(ctx context.Context, p Period) (Access, error) {
	if err := checkPeriod(p); err != nil {
		return Access{}, fmt.Errorf("creating remnawave user: %w", err)
	}
	if p.ExpiresAt.IsZero() {
		// The panel would take year 1 and expire the user at once.
		return Access{}, fmt.Errorf("creating remnawave user for subscription %d: the period has no expiry", p.SubscriptionID)
	}
	name := r.username(p.SubscriptionID)
	u, err := r.byUsername(ctx, name)
	if err == nil {
		return u.access(), nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Access{}, fmt.Errorf("looking up remnawave user %s: %w", name, err)
	}

	const path = "/users"
	op := http.MethodPost + " " + path
	a, err := r.api.do(ctx, http.MethodPost, path, rwCreateUser{
		Username:             name,
		Status:               rwActive,
		ExpireAt:             rwTime(p.ExpiresAt),
		TrafficLimitStrategy: "NO_RESET",
		Description:          fmt.Sprintf("vpnbot subscription %d, user %d", p.SubscriptionID, p.UserID),
		ActiveInternalSquads: r.squads,
	})
	if err != nil {
		return Access{}, fmt.Errorf("creating remnawave user %s: %w", name, err)
	}
	if a.status == http.StatusCreated || a.status == http.StatusOK {
		var env struct {
			Response rwUser `json:"response"`
		}
		if err := r.api.decode(op, a, &env); err != nil {
			return Access{}, fmt.Errorf("creating remnawave user %s: %w", name, err)
		}
		return env.Response.access(), nil
	}
	if r.usernameTaken(a) {
		// Another Create got there between our lookup and our create.
		u, err := r.byUsername(ctx, name)
		if err != nil {
			return Access{}, fmt.Errorf("reading existing remnawave user %s: %w", name, err)
		}
		return u.access(), nil
	}
	return Access{}, fmt.Errorf("creating remnawave user %s: %w", name, r.statusError(op, a))
}

// Extend sets the user's expireAt and makes it active again: a paid
// extension must work even if the panel had marked the user expired or an
// operator had disabled it. The panel refuses an expiry in the past.
func (r *Remnawave) Extend(ctx context.Context, accessID string, expiresAt time.Time) error {
	const path = "/users"
	a, err := r.api.do(ctx, http.MethodPatch, path, rwUpdateUser{
		UUID: accessID, Status: rwActive, ExpireAt: rwTime(expiresAt),
	})
	if err != nil {
		return fmt.Errorf("extending remnawave user %s: %w", accessID, err)
	}
	switch {
	case a.status == http.StatusOK:
		return nil
	case r.userMissing(a):
		return fmt.Errorf("extending remnawave user %s: %w", accessID, ErrNotFound)
	default:
		return fmt.Errorf("extending remnawave user %s: %w", accessID, r.statusError(http.MethodPatch+" "+path, a))
	}
}

// Revoke deletes the user, which the panel removes from its nodes at once;
// a user already gone is fine.
func (r *Remnawave) Revoke(ctx context.Context, accessID string) error {
	path := "/users/" + url.PathEscape(accessID)
	a, err := r.api.do(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return fmt.Errorf("revoking remnawave user %s: %w", accessID, err)
	}
	if a.status == http.StatusOK || a.status == http.StatusNoContent || r.userMissing(a) {
		return nil
	}
	return fmt.Errorf("revoking remnawave user %s: %w", accessID, r.statusError(http.MethodDelete+" "+path, a))
}

// Status maps the panel's ACTIVE to active, DISABLED, LIMITED (traffic used
// up) and EXPIRED to disabled, and a deleted user to missing.
func (r *Remnawave) Status(ctx context.Context, accessID string) (Status, error) {
	path := "/users/" + url.PathEscape(accessID)
	u, err := r.getUser(ctx, path)
	switch {
	case errors.Is(err, ErrNotFound):
		return StatusMissing, nil
	case err != nil:
		return "", fmt.Errorf("reading remnawave user %s: %w", accessID, err)
	case u.Status == rwActive:
		return StatusActive, nil
	default:
		return StatusDisabled, nil
	}
}

// listPageSize is well under the panel's limit of 1000 users a page.
const listPageSize = 500

// List pages through all users and returns those named "<prefix>_<number>".
func (r *Remnawave) List(ctx context.Context) ([]Access, error) {
	var out []Access
	for start := 0; ; start += listPageSize {
		path := fmt.Sprintf("/users?start=%d&size=%d", start, listPageSize)
		op := http.MethodGet + " " + path
		a, err := r.api.do(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, fmt.Errorf("listing remnawave users: %w", err)
		}
		if a.status != http.StatusOK {
			return nil, fmt.Errorf("listing remnawave users: %w", r.statusError(op, a))
		}
		var env struct {
			Response struct {
				Users []rwUser `json:"users"`
				Total int      `json:"total"`
			} `json:"response"`
		}
		if err := r.api.decode(op, a, &env); err != nil {
			return nil, fmt.Errorf("listing remnawave users: %w", err)
		}
		for _, u := range env.Response.Users {
			if r.ours(u.Username) {
				out = append(out, u.access())
			}
		}
		if len(env.Response.Users) == 0 || start+len(env.Response.Users) >= env.Response.Total {
			return out, nil
		}
	}
}

func (r *Remnawave) ours(username string) bool {
	n, ok := strings.CutPrefix(username, r.prefix+"_")
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(n, 10, 64)
	return err == nil && v > 0 && strconv.FormatInt(v, 10) == n
}

func (r *Remnawave) byUsername(ctx context.Context, name string) (rwUser, error) {
	return r.getUser(ctx, "/users/by-username/"+url.PathEscape(name))
}

// getUser reads one user; a user that does not exist is ErrNotFound.
func (r *Remnawave) getUser(ctx context.Context, path string) (rwUser, error) {
	op := http.MethodGet + " " + path
	a, err := r.api.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return rwUser{}, err
	}
	switch {
	case a.status == http.StatusOK:
		var env struct {
			Response rwUser `json:"response"`
		}
		if err := r.api.decode(op, a, &env); err != nil {
			return rwUser{}, err
		}
		return env.Response, nil
	case r.userMissing(a):
		return rwUser{}, ErrNotFound
	default:
		return rwUser{}, r.statusError(op, a)
	}
}

// userMissing tells the panel's "user not found" (404 with one of its error
// codes) from a 404 for a path the panel does not serve, which would
// otherwise make Revoke report success against a wrong BaseURL.
func (r *Remnawave) userMissing(a answer) bool {
	if a.status != http.StatusNotFound {
		return false
	}
	var e rwError
	return json.Unmarshal(a.body, &e) == nil && e.ErrorCode != ""
}

func (r *Remnawave) usernameTaken(a answer) bool {
	if a.status == http.StatusConflict {
		return true
	}
	if a.status != http.StatusBadRequest {
		return false
	}
	var e rwError
	if json.Unmarshal(a.body, &e) != nil {
		return false
	}
	return e.ErrorCode == rwUsernameTaken || strings.Contains(strings.ToLower(string(e.Message)), "already exists")
}

func (r *Remnawave) statusError(op string, a answer) error {
	var e rwError
	_ = json.Unmarshal(a.body, &e) // a body that is not the panel's leaves no detail
	detail := e.text()
	if a.status == http.StatusNotFound {
		return fmt.Errorf("remnawave %s: answered 404: the panel does not serve this path: check BaseURL (%s)", op, detail)
	}
	return r.api.statusError(op, a, detail)
}

// messageText renders the panel's message, a string or a list of them.
func messageText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, "; ")
	}
	return string(raw)
}

func (u rwUser) access() Access {
	return Access{ID: u.UUID, URL: u.SubscriptionURL, ExpiresAt: u.ExpireAt}
}
