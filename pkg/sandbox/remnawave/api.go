package remnawave

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
)

// reply is a route's answer: a status and a JSON body.
type reply = fakehttp.Reply

func writeJSON(w http.ResponseWriter, status int, v any) { fakehttp.WriteJSON(w, status, v) }

// panelError is the panel's own error body (HttpExceptionWithErrorCode).
type panelError struct {
	Timestamp string `json:"timestamp"`
	Path      string `json:"path"`
	Message   string `json:"message"`
	ErrorCode string `json:"errorCode"`
}

// nestError is the framework's error body: 401, unknown routes, validation.
type nestError struct {
	StatusCode int          `json:"statusCode"`
	Message    string       `json:"message"`
	Error      string       `json:"error,omitempty"`
	Errors     []validation `json:"errors,omitempty"`
}

// validation is one failed check, as nestjs-zod lists them.
type validation struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Path    []string `json:"path"`
}

// The panel's error codes the sandbox answers with.
var (
	errUserNotFound    = codedError{"A025", "User not found", http.StatusNotFound}
	errUsernameTaken   = codedError{"A019", "User username already exists", http.StatusBadRequest}
	errUUIDTaken       = codedError{"A018", "Failed to create user", http.StatusInternalServerError}
	errAlreadyDisabled = codedError{"A029", "User already disabled", http.StatusBadRequest}
	errAlreadyEnabled  = codedError{"A030", "User already enabled", http.StatusBadRequest}
)

type codedError struct {
	code    string
	message string
	status  int
}

func (e codedError) reply(r *http.Request) reply {
	return reply{Status: e.status, Body: panelError{
		Timestamp: isoTime(time.Now()), Path: r.URL.RequestURI(), Message: e.message, ErrorCode: e.code,
	}}
}

func invalid(field, message string) reply {
	return reply{Status: http.StatusBadRequest, Body: nestError{
		StatusCode: http.StatusBadRequest, Message: "Validation failed",
		Errors: []validation{{Code: "custom", Message: message, Path: []string{field}}},
	}}
}

func answer(status int, v any) reply {
	return reply{Status: status, Body: map[string]any{"response": v}}
}

// isoTime formats as JavaScript's toISOString, which the panel answers with.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (s *Server) routeAPI() {
	s.api = fakehttp.NewAPI(s.faults, func(status int, abandoned bool) reply {
		msg := http.StatusText(status)
		if abandoned {
			msg = "request abandoned"
		}
		return reply{Status: status, Body: nestError{StatusCode: status, Message: msg}}
	})
	s.route("POST /api/users", s.createUser)
	s.route("GET /api/users", s.listUsers)
	s.route("PATCH /api/users", s.updateUser)
	s.route("GET /api/users/by-username/{username}", s.getUserByUsername)
	s.route("GET /api/system/metadata", s.metadata)
	// 2.x addresses a user by its uuid; 3.x by its numeric id, and lists
	// users by keyset pages.
	key := "{uuid}"
	if s.cfg.Version == Version3 {
		key = "{id}"
		s.route("GET /api/users/stream", s.streamUsers)
	}
	s.route("GET /api/users/"+key, s.getUser)
	s.route("DELETE /api/users/"+key, s.deleteUser)
	s.route("POST /api/users/"+key+"/actions/disable", s.setEnabled(false))
	s.route("POST /api/users/"+key+"/actions/enable", s.setEnabled(true))
	s.route("POST /api/users/"+key+"/actions/revoke", s.revokeSubscription)
	s.api.Mux.HandleFunc("GET /api/sub/{shortUuid}", s.subscription)
	s.api.Mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, nestError{
			StatusCode: http.StatusNotFound, Error: "Not Found",
			Message: fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path),
		})
	})
}

// route serves pattern with fn behind the token check.
func (s *Server) route(pattern string, fn func(*http.Request) reply) {
	s.api.Route(pattern, func(r *http.Request) reply {
		if !s.authorized(r) {
			return reply{Status: http.StatusUnauthorized, Body: nestError{StatusCode: http.StatusUnauthorized, Message: "Unauthorized"}}
		}
		return fn(r)
	})
}

// wireUser is a user as the panel answers it (ExtendedUsersSchema).
type wireUser struct {
	UUID                   string      `json:"uuid,omitempty"` // 2.x only`
	ID                     int64       `json:"id"`
	ShortUUID              string      `json:"shortUuid"`
	Username               string      `json:"username"`
	Status                 string      `json:"status"`
	TrafficLimitBytes      int64       `json:"trafficLimitBytes"`
	TrafficLimitStrategy   string      `json:"trafficLimitStrategy"`
	ExpireAt               string      `json:"expireAt"`
	TelegramID             *int64      `json:"telegramId"`
	Email                  *string     `json:"email"`
	Description            *string     `json:"description"`
	Tag                    *string     `json:"tag"`
	HwidDeviceLimit        *int64      `json:"hwidDeviceLimit"`
	ExternalSquadUUID      *string     `json:"externalSquadUuid"`
	TrojanPassword         string      `json:"trojanPassword"`
	VlessUUID              string      `json:"vlessUuid"`
	SSPassword             string      `json:"ssPassword"`
	LastTriggeredThreshold int         `json:"lastTriggeredThreshold"`
	SubRevokedAt           *string     `json:"subRevokedAt"`
	SubLastUserAgent       *string     `json:"subLastUserAgent"`
	SubLastOpenedAt        *string     `json:"subLastOpenedAt"`
	LastTrafficResetAt     *string     `json:"lastTrafficResetAt"`
	CreatedAt              string      `json:"createdAt"`
	UpdatedAt              string      `json:"updatedAt"`
	SubscriptionURL        string      `json:"subscriptionUrl"`
	ActiveInternalSquads   []wireSquad `json:"activeInternalSquads"`
	UserTraffic            wireTraffic `json:"userTraffic"`
}

type wireSquad struct {
	UUID string `json:"uuid"`
	Name string `json:"name"`
}

type wireTraffic struct {
	UsedTrafficBytes         int64   `json:"usedTrafficBytes"`
	LifetimeUsedTrafficBytes int64   `json:"lifetimeUsedTrafficBytes"`
	OnlineAt                 *string `json:"onlineAt"`
	FirstConnectedAt         *string `json:"firstConnectedAt"`
	LastConnectedNodeUUID    *string `json:"lastConnectedNodeUuid"`
}

// wire is u as a panel of version answers it.
func (u User) wire(version int) wireUser {
	squads := make([]wireSquad, 0, len(u.ActiveInternalSquads))
	for _, id := range u.ActiveInternalSquads {
		squads = append(squads, wireSquad{UUID: id, Name: "squad-" + id[:8]})
	}
	var subRevokedAt *string
	if !u.SubRevokedAt.IsZero() {
		t := isoTime(u.SubRevokedAt)
		subRevokedAt = &t
	}
	uuid := u.UUID
	if version == Version3 {
		uuid = ""
	}
	return wireUser{
		UUID: uuid, ID: u.ID, ShortUUID: u.ShortUUID, Username: u.Username, Status: u.Status,
		TrafficLimitBytes: u.TrafficLimitBytes, TrafficLimitStrategy: u.TrafficLimitStrategy,
		ExpireAt: isoTime(u.ExpireAt), TelegramID: u.TelegramID, Email: u.Email,
		Description: u.Description, Tag: u.Tag,
		TrojanPassword: u.TrojanPassword, VlessUUID: u.VlessUUID, SSPassword: u.SSPassword,
		CreatedAt: isoTime(u.CreatedAt), UpdatedAt: isoTime(u.UpdatedAt),
		SubscriptionURL: u.SubscriptionURL, ActiveInternalSquads: squads, SubRevokedAt: subRevokedAt,
	}
}

// userParams are the fields of POST and PATCH /api/users the sandbox keeps.
type userParams struct {
	UUID                 *string  `json:"uuid"` // 2.x
	ID                   *int64   `json:"id"`   // 3.x`
	Username             *string  `json:"username"`
	Status               *string  `json:"status"`
	ShortUUID            *string  `json:"shortUuid"`
	TrafficLimitBytes    *int64   `json:"trafficLimitBytes"`
	TrafficLimitStrategy *string  `json:"trafficLimitStrategy"`
	ExpireAt             *string  `json:"expireAt"`
	Description          *string  `json:"description"`
	Tag                  *string  `json:"tag"`
	TelegramID           *int64   `json:"telegramId"`
	Email                *string  `json:"email"`
	ActiveInternalSquads []string `json:"activeInternalSquads"`
}

var (
	usernamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	uuidPattern     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	resetPeriods    = []string{"NO_RESET", "DAY", "WEEK", "MONTH"}
)

func readParams(r *http.Request) (userParams, *reply) {
	var p userParams
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&p); err != nil {
		rp := invalid("body", "Invalid JSON: "+err.Error())
		return p, &rp
	}
	return p, nil
}

// parseTime accepts what the panel's zod datetime does: ISO with an offset,
// or local (taken as UTC).
func parseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// checkCommon validates the fields POST and PATCH share.
func checkCommon(p userParams) *reply {
	if p.TrafficLimitBytes != nil && *p.TrafficLimitBytes < 0 {
		rp := invalid("trafficLimitBytes", "Traffic limit must be greater than 0")
		return &rp
	}
	if p.TrafficLimitStrategy != nil && !slices.Contains(resetPeriods, *p.TrafficLimitStrategy) {
		rp := invalid("trafficLimitStrategy", "Invalid traffic limit strategy")
		return &rp
	}
	for _, id := range p.ActiveInternalSquads {
		if !uuidPattern.MatchString(id) {
			rp := invalid("activeInternalSquads", "Enabled internal squads must be an array of UUIDs")
			return &rp
		}
	}
	return nil
}

func (s *Server) createUser(r *http.Request) reply {
	p, bad := readParams(r)
	if bad != nil {
		return *bad
	}
	switch {
	case p.Username == nil:
		return invalid("username", "Username is required")
	case !usernamePattern.MatchString(*p.Username):
		return invalid("username", "Username can only contain letters, numbers, underscores and dashes")
	case len(*p.Username) > 36:
		return invalid("username", "Username must be less than 36 characters")
	case len(*p.Username) < 3:
		return invalid("username", "Username must be at least 3 characters")
	case p.ExpireAt == nil:
		return invalid("expireAt", "Expiration date is required")
	case p.Status != nil && *p.Status != StatusActive && *p.Status != StatusDisabled &&
		*p.Status != StatusLimited && *p.Status != StatusExpired:
		return invalid("status", "Invalid status")
	case p.UUID != nil && s.cfg.Version == Version2 && !uuidPattern.MatchString(*p.UUID):
		return invalid("uuid", "Invalid uuid")
	}
	expireAt, ok := parseTime(*p.ExpireAt)
	if !ok {
		return invalid("expireAt", "Invalid date format")
	}
	if bad := checkCommon(p); bad != nil {
		return *bad
	}

	now := time.Now().UTC()
	u := &User{
		Username: *p.Username, Status: StatusActive, ExpireAt: expireAt.UTC(),
		TrafficLimitStrategy: "NO_RESET", Description: p.Description, Tag: p.Tag,
		TelegramID: p.TelegramID, Email: p.Email, ActiveInternalSquads: p.ActiveInternalSquads,
		CreatedAt: now, UpdatedAt: now,
	}
	if p.Status != nil {
		u.Status = *p.Status
	}
	if p.TrafficLimitBytes != nil {
		u.TrafficLimitBytes = *p.TrafficLimitBytes
	}
	if p.TrafficLimitStrategy != nil {
		u.TrafficLimitStrategy = *p.TrafficLimitStrategy
	}
	u.UUID, u.VlessUUID = newUUID(), newUUID()
	u.ShortUUID, u.TrojanPassword, u.SSPassword = randomHex(8), randomHex(12), randomHex(16)
	if p.UUID != nil && s.cfg.Version == Version2 {
		u.UUID = *p.UUID
	}
	if p.ShortUUID != nil {
		u.ShortUUID = *p.ShortUUID
	}
	base := s.cfg.SubscriptionBaseURL
	if base == "" {
		base = "http://" + r.Host + "/api/sub"
	}
	u.SubscriptionURL = base + "/" + u.ShortUUID

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byUsernameLocked(u.Username) != nil {
		return errUsernameTaken.reply(r)
	}
	if s.users[u.UUID] != nil {
		return errUUIDTaken.reply(r)
	}
	u.ID = s.nextID
	s.nextID++
	s.reserveLocked()
	s.users[u.UUID] = u
	s.order = append(s.order, u.UUID)
	s.changedLocked()
	return s.userReply(http.StatusCreated, u)
}

func (s *Server) listUsers(r *http.Request) reply {
	start, size := 0, 25
	if v := r.URL.Query().Get("start"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return invalid("start", "Start index (offset) must be a non-negative number")
		}
		start = n
	}
	if v := r.URL.Query().Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return invalid("size", "Size (limit) must be from 1 to 1000")
		}
		size = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	users := []wireUser{}
	for i := start; i < len(s.order) && i < start+size; i++ {
		users = append(users, s.users[s.order[i]].view(now).wire(s.cfg.Version))
	}
	return answer(http.StatusOK, map[string]any{"users": users, "total": len(s.order)})
}

func (s *Server) getUser(r *http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, bad := s.targetLocked(r)
	if bad != nil {
		return *bad
	}
	return s.userReply(http.StatusOK, u)
}

// targetLocked is the user a route's path names: by uuid on 2.x, by id on
// 3.x, where a path that is not a positive number fails validation, as
// the panel's numberParamSchema does (a 2.x uuid included).
func (s *Server) targetLocked(r *http.Request) (*User, *reply) {
	var u *User
	if s.cfg.Version == Version2 {
		u = s.users[r.PathValue("uuid")]
	} else {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			rp := invalid("userId", "Invalid input: expected number, received NaN")
			return nil, &rp
		}
		if id <= 0 {
			rp := invalid("userId", "Too small: expected number to be >0")
			return nil, &rp
		}
		u = s.byIDLocked(id)
	}
	if u == nil {
		rp := errUserNotFound.reply(r)
		return nil, &rp
	}
	return u, nil
}

func (s *Server) byIDLocked(id int64) *User {
	for _, k := range s.order {
		if u := s.users[k]; u.ID == id {
			return u
		}
	}
	return nil
}

// userReply answers u as the panel does, with status.
func (s *Server) userReply(status int, u *User) reply {
	return answer(status, u.view(time.Now()).wire(s.cfg.Version))
}

func (s *Server) getUserByUsername(r *http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byUsernameLocked(r.PathValue("username"))
	if u == nil {
		return errUserNotFound.reply(r)
	}
	return s.userReply(http.StatusOK, u)
}

func (s *Server) updateUser(r *http.Request) reply {
	p, bad := readParams(r)
	if bad != nil {
		return *bad
	}
	if s.cfg.Version == Version3 {
		// 3.x's schema has no uuid: it is dropped, as zod drops unknown keys.
		p.UUID = nil
		if p.ID == nil && p.Username == nil {
			return invalid("", "At least one of username, id must be provided")
		}
	} else if p.UUID == nil && p.Username == nil {
		return invalid("uuid", "Either uuid or username must be provided")
	}
	if p.Status != nil && *p.Status != StatusActive && *p.Status != StatusDisabled {
		return invalid("status", "You can't change status to LIMITED or EXPIRED. These statuses handled by Remnawave.")
	}
	var expireAt time.Time
	if p.ExpireAt != nil {
		t, ok := parseTime(*p.ExpireAt)
		if !ok {
			return invalid("expireAt", "Invalid date format")
		}
		if !t.After(time.Now()) {
			return invalid("expireAt", "Expiration date cannot be in the past")
		}
		expireAt = t.UTC()
	}
	if bad := checkCommon(p); bad != nil {
		return *bad
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.updateTargetLocked(p)
	if u == nil {
		return errUserNotFound.reply(r)
	}
	if p.Status != nil {
		u.Status = *p.Status
	}
	if p.ExpireAt != nil {
		u.ExpireAt = expireAt
	}
	if p.TrafficLimitBytes != nil {
		u.TrafficLimitBytes = *p.TrafficLimitBytes
	}
	if p.TrafficLimitStrategy != nil {
		u.TrafficLimitStrategy = *p.TrafficLimitStrategy
	}
	if p.Description != nil {
		u.Description = p.Description
	}
	if p.Tag != nil {
		u.Tag = p.Tag
	}
	if p.TelegramID != nil {
		u.TelegramID = p.TelegramID
	}
	if p.Email != nil {
		u.Email = p.Email
	}
	if p.ActiveInternalSquads != nil {
		u.ActiveInternalSquads = p.ActiveInternalSquads
	}
	u.UpdatedAt = time.Now().UTC()
	s.changedLocked()
	return s.userReply(http.StatusOK, u)
}

// updateTargetLocked is the user PATCH /api/users names: 2.x takes the uuid
// over the username; 3.x looks for the user matching every field given.
func (s *Server) updateTargetLocked(p userParams) *User {
	switch {
	case p.UUID != nil:
		return s.users[*p.UUID]
	case p.ID != nil:
		u := s.byIDLocked(*p.ID)
		if u == nil || (p.Username != nil && u.Username != *p.Username) {
			return nil
		}
		return u
	default:
		return s.byUsernameLocked(*p.Username)
	}
}

func (s *Server) deleteUser(r *http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, bad := s.targetLocked(r)
	if bad != nil {
		return *bad
	}
	s.deleteLocked(u.UUID)
	if s.cfg.Version == Version3 {
		return reply{Status: http.StatusNoContent}
	}
	return answer(http.StatusOK, map[string]bool{"isDeleted": true})
}

func (s *Server) setEnabled(enable bool) func(*http.Request) reply {
	return func(r *http.Request) reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		u, bad := s.targetLocked(r)
		switch {
		case bad != nil:
			return *bad
		case !enable && u.Status == StatusDisabled:
			return errAlreadyDisabled.reply(r)
		case enable && u.Status != StatusDisabled:
			return errAlreadyEnabled.reply(r)
		}
		u.Status = StatusDisabled
		if enable {
			u.Status = StatusActive
		}
		u.UpdatedAt = time.Now().UTC()
		s.changedLocked()
		return s.userReply(http.StatusOK, u)
	}
}

// revokeSubscription gives the user a new shortUuid, and so a new
// subscription URL, and new proxy credentials: the old URL stops working.
// With {"revokeOnlyPasswords": true} the shortUuid stays.
func (s *Server) revokeSubscription(r *http.Request) reply {
	var p struct {
		RevokeOnlyPasswords bool    `json:"revokeOnlyPasswords"`
		ShortUUID           *string `json:"shortUuid"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return invalid("body", "Invalid JSON: "+err.Error())
	}
	if p.ShortUUID != nil && (len(*p.ShortUUID) < 16 || len(*p.ShortUUID) > 64) {
		return invalid("shortUuid", "Short UUID must be 16-64 characters")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, bad := s.targetLocked(r)
	if bad != nil {
		return *bad
	}
	if !p.RevokeOnlyPasswords {
		short := randomHex(8)
		if p.ShortUUID != nil {
			short = *p.ShortUUID
		}
		u.SubscriptionURL = strings.TrimSuffix(u.SubscriptionURL, u.ShortUUID) + short
		u.ShortUUID = short
	}
	u.VlessUUID, u.TrojanPassword, u.SSPassword = newUUID(), randomHex(12), randomHex(16)
	now := time.Now().UTC()
	u.SubRevokedAt, u.UpdatedAt = now, now
	s.changedLocked()
	return s.userReply(http.StatusOK, u)
}

// streamUsers is 3.x's keyset listing: users with an id above cursor, by
// id, size at a time.
func (s *Server) streamUsers(r *http.Request) reply {
	var cursor int64
	size := 250
	if v := r.URL.Query().Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return invalid("cursor", "Invalid input: expected number, received NaN")
		}
		cursor = n
	}
	if v := r.URL.Query().Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return invalid("size", "Number of results to return, no more than 1000")
		}
		size = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	users := []wireUser{}
	hasMore := false
	for _, k := range s.order {
		u := s.users[k]
		if u.ID <= cursor {
			continue
		}
		if len(users) == size {
			hasMore = true
			break
		}
		users = append(users, u.view(now).wire(s.cfg.Version))
	}
	var next *string
	if hasMore {
		c := strconv.FormatInt(users[len(users)-1].ID, 10)
		next = &c
	}
	return answer(http.StatusOK, map[string]any{"users": users, "nextCursor": next, "hasMore": hasMore})
}

// metadata is where the panel tells its version (GetMetadataCommand, since
// 2.5).
func (s *Server) metadata(*http.Request) reply {
	version := version2Release
	if s.cfg.Version == Version3 {
		version = version3Release
	}
	return answer(http.StatusOK, map[string]any{
		"version": version,
		"build":   map[string]string{"time": "2026-01-01T00:00:00.000Z", "number": "sandbox"},
		"git": map[string]any{
			"backend":  map[string]string{"commitSha": "sandbox", "branch": "main", "commitUrl": ""},
			"frontend": map[string]string{"commitSha": "sandbox", "commitUrl": ""},
		},
	})
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b)
}
