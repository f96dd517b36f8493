package marzban

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vpnbot/vpnbot/pkg/sandbox/fakehttp"
)

// reply is a route's answer: a status and a JSON body.
type reply = fakehttp.Reply

func writeJSON(w http.ResponseWriter, status int, v any) { fakehttp.WriteJSON(w, status, v) }

// detail is FastAPI's error body, {"detail": ...}.
func detail(v any) map[string]any { return map[string]any{"detail": v} }

func fail(status int, msg string) reply { return reply{Status: status, Body: detail(msg)} }

// invalid is the panel's validation failure: 422 with {"detail": {field: msg}}.
func invalid(field, msg string) reply {
	return reply{Status: http.StatusUnprocessableEntity, Body: detail(map[string]string{field: msg})}
}

var (
	errNotAuthenticated = fail(http.StatusUnauthorized, "Not authenticated")
	errBadToken         = fail(http.StatusUnauthorized, "Could not validate credentials")
	errBadLogin         = fail(http.StatusUnauthorized, "Incorrect username or password")
	errUserNotFound     = fail(http.StatusNotFound, "User not found")
	errUserExists       = fail(http.StatusConflict, "User already exists")
)

func (s *Server) routeAPI() {
	s.api = fakehttp.NewAPI(s.faults, func(status int, abandoned bool) reply {
		msg := http.StatusText(status)
		if abandoned {
			msg = "request abandoned"
		}
		return fail(status, msg)
	})
	s.api.Route("POST /api/admin/token", s.login)
	s.route("POST /api/user", s.createUser)
	s.route("GET /api/user/{username}", s.withUser(s.getUser))
	s.route("PUT /api/user/{username}", s.withUser(s.modifyUser))
	s.route("DELETE /api/user/{username}", s.withUser(s.deleteUser))
	s.route("POST /api/user/{username}/revoke_sub", s.withUser(s.revokeSub))
	s.route("POST /api/user/{username}/reset", s.withUser(s.resetUsage))
	s.route("GET /api/users", s.listUsers)
	s.api.Mux.HandleFunc("GET /sub/{token}", s.subscription)
	s.api.Mux.HandleFunc("GET /sub/{token}/", s.subscription)
	s.api.Mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, detail("Not Found"))
	})
}

// route serves pattern with fn behind the admin token check.
func (s *Server) route(pattern string, fn func(*http.Request) reply) {
	s.api.Route(pattern, func(r *http.Request) reply {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !ok || token == "":
			return errNotAuthenticated
		case !s.validAdminToken(token, s.now()):
			return errBadToken
		}
		return fn(r)
	})
}

// withUser looks up the path's user, under the lock, before fn: 404 "User
// not found" comes before any check of the body, as on the panel.
func (s *Server) withUser(fn func(*http.Request, *User) reply) func(*http.Request) reply {
	return func(r *http.Request) reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		u := s.users[r.PathValue("username")]
		if u == nil {
			return errUserNotFound
		}
		u.review(s.now())
		return fn(r, u)
	}
}

// login is OAuth2's password flow: a form with username and password.
func (s *Server) login(r *http.Request) reply {
	if err := r.ParseForm(); err != nil {
		return invalid("username", "Field required")
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	switch {
	case !r.PostForm.Has("username"):
		return invalid("username", "Field required")
	case !r.PostForm.Has("password"):
		return invalid("password", "Field required")
	case s.cfg.Username == "" || username != s.cfg.Username || password != s.cfg.Password:
		return errBadLogin
	}
	return reply{Status: http.StatusOK, Body: map[string]string{
		"access_token": s.adminToken(s.now()), "token_type": "bearer",
	}}
}

// userBody is the fields of POST /api/user and PUT /api/user/{username}
// the sandbox keeps; a field left out (null) is not changed by a PUT.
type userBody struct {
	Username               *string                    `json:"username"`
	Status                 *string                    `json:"status"`
	Expire                 *int64                     `json:"expire"`
	DataLimit              *int64                     `json:"data_limit"`
	DataLimitResetStrategy *string                    `json:"data_limit_reset_strategy"`
	Proxies                map[string]json.RawMessage `json:"proxies"`
	Inbounds               map[string][]string        `json:"inbounds"`
	Note                   *string                    `json:"note"`
	OnHoldExpireDuration   *int64                     `json:"on_hold_expire_duration"`
}

var resetStrategies = []string{"no_reset", "day", "week", "month", "year"}

// readBody decodes and validates what both POST and PUT take.
func (s *Server) readBody(r *http.Request, statuses []string) (userBody, *reply) {
	var b userBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&b); err != nil {
		rp := invalid("body", "JSON decode error")
		return b, &rp
	}
	bad := func(field, msg string) (userBody, *reply) {
		rp := invalid(field, msg)
		return b, &rp
	}
	switch {
	case b.DataLimit != nil && *b.DataLimit < 0:
		return bad("data_limit", "Input should be greater than or equal to 0")
	case b.DataLimitResetStrategy != nil && !slices.Contains(resetStrategies, *b.DataLimitResetStrategy):
		return bad("data_limit_reset_strategy", "Input should be 'no_reset', 'day', 'week', 'month' or 'year'")
	case b.Note != nil && len(*b.Note) > 500:
		return bad("note", "Value error, User's note can be a maximum of 500 character")
	case b.Status != nil && !slices.Contains(statuses, *b.Status):
		return bad("status", "Input should be '"+strings.Join(statuses, "', '")+"'")
	case b.Status != nil && *b.Status == StatusOnHold && (b.OnHoldExpireDuration == nil || *b.OnHoldExpireDuration == 0):
		return bad("status", "Value error, User cannot be on hold without a valid on_hold_expire_duration.")
	case b.Status != nil && *b.Status == StatusOnHold && b.Expire != nil && *b.Expire != 0:
		return bad("status", "Value error, User cannot be on hold with specified expire.")
	}
	for proto := range b.Proxies {
		if !slices.Contains([]string{VLESS, VMess, Trojan, Shadowsocks}, proto) {
			return bad("proxies", "Input should be 'vmess', 'vless', 'trojan' or 'shadowsocks'")
		}
	}
	for _, tags := range b.Inbounds {
		for _, tag := range tags {
			if _, ok := s.inbounds[tag]; !ok {
				return bad("inbounds", "Value error, Inbound "+tag+" doesn't exist")
			}
		}
	}
	return b, nil
}

// checkProtocols is the panel's own check after validation: every proxy's
// protocol needs an inbound on the server.
func (s *Server) checkProtocols(proxies map[string]json.RawMessage) *reply {
	for proto := range proxies {
		if !slices.ContainsFunc(s.cfg.Inbounds, func(in Inbound) bool { return in.Protocol == proto }) {
			rp := fail(http.StatusBadRequest, "Protocol "+proto+" is disabled on your server")
			return &rp
		}
	}
	return nil
}

// proxy makes a protocol's settings from what the request gave, filling in
// fresh credentials where it gave none, as the panel's defaults do.
func proxy(proto string, raw json.RawMessage) (Proxy, error) {
	var p Proxy
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p); err != nil {
			return Proxy{}, fmt.Errorf("%s settings: %w", proto, err)
		}
	}
	switch proto {
	case VLESS, VMess:
		p.Password, p.Method = "", ""
		if p.ID == "" {
			p.ID = newUUID()
		}
	case Trojan, Shadowsocks:
		p.ID = ""
		if p.Password == "" {
			p.Password = randomHex(11)
		}
		if proto == Shadowsocks && p.Method == "" {
			p.Method = "chacha20-ietf-poly1305"
		}
	}
	return p, nil
}

// revoke gives the proxy new credentials, as revoke_sub does.
func (p Proxy) revoke() Proxy {
	if p.ID != "" {
		p.ID = newUUID()
	} else {
		p.Password = randomHex(11)
	}
	return p
}

// inboundsFor is the tags of proto a user gets: those asked for, or every
// inbound of the protocol.
func (s *Server) inboundsFor(proto string, asked map[string][]string) []string {
	if tags := asked[proto]; len(tags) > 0 {
		return slices.Clone(tags)
	}
	var tags []string
	for _, in := range s.cfg.Inbounds {
		if in.Protocol == proto {
			tags = append(tags, in.Tag)
		}
	}
	return tags
}

// validUsername is the panel's USERNAME_REGEXP: letters, digits and "-_@.",
// whose leading run of letters, digits and underscores is 3 to 32 long.
func validUsername(name string) bool {
	run := 0
	for run < len(name) && isWordByte(name[run]) {
		run++
	}
	if run < 3 || run > 32 {
		return false
	}
	for i := range len(name) {
		if c := name[i]; !isWordByte(c) && c != '-' && c != '@' && c != '.' {
			return false
		}
	}
	return true
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func (s *Server) createUser(r *http.Request) reply {
	b, bad := s.readBody(r, []string{StatusActive, StatusOnHold})
	if bad != nil {
		return *bad
	}
	switch {
	case b.Username == nil:
		return invalid("username", "Field required")
	case !validUsername(*b.Username):
		return invalid("username", "Value error, Username only can be 3 to 32 characters and contain a-z, 0-9, and underscores in between.")
	case len(b.Proxies) == 0:
		return invalid("proxies", "Value error, Each user needs at least one proxy")
	}
	if bad := s.checkProtocols(b.Proxies); bad != nil {
		return *bad
	}
	now := s.now()
	u := &User{
		Username: *b.Username, Status: StatusActive, DataLimitResetStrategy: "no_reset",
		Proxies: map[string]Proxy{}, Inbounds: map[string][]string{}, CreatedAt: now.UTC(),
	}
	for proto, raw := range b.Proxies {
		p, err := proxy(proto, raw)
		if err != nil {
			return invalid("proxies", err.Error())
		}
		u.Proxies[proto] = p
		u.Inbounds[proto] = s.inboundsFor(proto, b.Inbounds)
	}
	if b.Status != nil {
		u.Status = *b.Status
	}
	if b.Expire != nil {
		u.Expire = *b.Expire
	}
	if b.DataLimit != nil {
		u.DataLimit = *b.DataLimit
	}
	if b.DataLimitResetStrategy != nil {
		u.DataLimitResetStrategy = *b.DataLimitResetStrategy
	}
	if b.Note != nil {
		u.Note = *b.Note
	}
	if b.OnHoldExpireDuration != nil {
		u.OnHoldExpireDuration = *b.OnHoldExpireDuration
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[u.Username] != nil {
		return errUserExists
	}
	u.ID = s.nextID
	s.nextID++
	s.users[u.Username] = u
	s.changedLocked()
	u.review(now)
	return reply{Status: http.StatusOK, Body: s.wireLocked(u, now)}
}

func (s *Server) getUser(_ *http.Request, u *User) reply {
	return reply{Status: http.StatusOK, Body: s.wireLocked(u, s.now())}
}

// modifyUser is the panel's update_user: status first, then the data limit
// and the expiry, each of which may move the status on; proxies given
// replace the user's (with fresh credentials where none are given).
func (s *Server) modifyUser(r *http.Request, u *User) reply {
	b, bad := s.readBody(r, []string{StatusActive, StatusDisabled, StatusOnHold})
	if bad != nil {
		return *bad
	}
	if bad := s.checkProtocols(b.Proxies); bad != nil {
		return *bad
	}
	proxies := map[string]Proxy{}
	for proto, raw := range b.Proxies {
		p, err := proxy(proto, raw)
		if err != nil {
			return invalid("proxies", err.Error())
		}
		proxies[proto] = p
	}
	now := s.now()
	if len(proxies) > 0 {
		u.Proxies = proxies
		for proto := range u.Inbounds {
			if _, ok := proxies[proto]; !ok {
				delete(u.Inbounds, proto)
			}
		}
		for proto := range proxies {
			if _, ok := u.Inbounds[proto]; !ok {
				u.Inbounds[proto] = s.inboundsFor(proto, nil)
			}
		}
	}
	for proto, tags := range b.Inbounds {
		if _, ok := u.Proxies[proto]; ok && len(tags) > 0 {
			u.Inbounds[proto] = slices.Clone(tags)
		}
	}
	if b.Status != nil {
		u.Status = *b.Status
	}
	if b.DataLimit != nil {
		u.setDataLimit(*b.DataLimit)
	}
	if b.Expire != nil {
		u.setExpire(*b.Expire, now)
	}
	if b.Note != nil {
		u.Note = *b.Note
	}
	if b.DataLimitResetStrategy != nil {
		u.DataLimitResetStrategy = *b.DataLimitResetStrategy
	}
	if b.OnHoldExpireDuration != nil {
		u.OnHoldExpireDuration = *b.OnHoldExpireDuration
	}
	u.review(now)
	s.changedLocked()
	return reply{Status: http.StatusOK, Body: s.wireLocked(u, now)}
}

func (s *Server) deleteUser(_ *http.Request, u *User) reply {
	delete(s.users, u.Username)
	s.changedLocked()
	return reply{Status: http.StatusOK, Body: detail("User successfully deleted")}
}

// revokeSub ends every subscription token issued before now and gives each
// proxy new credentials, as the panel's revoke_user_sub does.
func (s *Server) revokeSub(_ *http.Request, u *User) reply {
	now := s.now()
	u.SubRevokedAt = now.UTC()
	for proto, p := range u.Proxies {
		u.Proxies[proto] = p.revoke()
	}
	s.changedLocked()
	return reply{Status: http.StatusOK, Body: s.wireLocked(u, now)}
}

// resetUsage zeroes the user's traffic; a limited user becomes active.
func (s *Server) resetUsage(_ *http.Request, u *User) reply {
	u.UsedTraffic = 0
	if u.Status != StatusExpired && u.Status != StatusDisabled && u.Status != StatusOnHold {
		u.Status = StatusActive
	}
	now := s.now()
	u.review(now)
	s.changedLocked()
	return reply{Status: http.StatusOK, Body: s.wireLocked(u, now)}
}

// sortOptions are the sort keys of GET /api/users the sandbox knows.
var sortOptions = map[string]func(a, b *User) int{
	"username":    func(a, b *User) int { return strings.Compare(a.Username, b.Username) },
	"-username":   func(a, b *User) int { return strings.Compare(b.Username, a.Username) },
	"created_at":  func(a, b *User) int { return cmp.Compare(a.ID, b.ID) },
	"-created_at": func(a, b *User) int { return cmp.Compare(b.ID, a.ID) },
	"expire":      func(a, b *User) int { return cmp.Compare(a.Expire, b.Expire) },
	"-expire":     func(a, b *User) int { return cmp.Compare(b.Expire, a.Expire) },
}

// listUsers pages the users: ?offset&limit&search&status&sort, answering
// {"users": [...], "total": N} where total counts every match.
func (s *Server) listUsers(r *http.Request) reply {
	q := r.URL.Query()
	var offset, limit int
	for name, dst := range map[string]*int{"offset": &offset, "limit": &limit} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return invalid(name, "Input should be a valid integer, unable to parse string as an integer")
			}
			*dst = n
		}
	}
	var sorts []func(a, b *User) int
	if v := q.Get("sort"); v != "" {
		for opt := range strings.SplitSeq(strings.Trim(v, ","), ",") {
			fn, ok := sortOptions[opt]
			if !ok {
				return fail(http.StatusBadRequest, `"`+opt+`" is not a valid sort option`)
			}
			sorts = append(sorts, fn)
		}
	}
	search, status := strings.ToLower(q.Get("search")), q.Get("status")
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var match []*User
	for _, u := range s.sortedLocked() {
		u.review(now)
		if search != "" && !strings.Contains(strings.ToLower(u.Username), search) &&
			!strings.Contains(strings.ToLower(u.Note), search) {
			continue
		}
		if status != "" && u.Status != status {
			continue
		}
		match = append(match, u)
	}
	slices.SortStableFunc(match, func(a, b *User) int {
		for _, fn := range sorts {
			if c := fn(a, b); c != 0 {
				return c
			}
		}
		return 0
	})
	total := len(match)
	if offset > 0 {
		match = match[min(offset, len(match)):]
	}
	if limit > 0 {
		match = match[:min(limit, len(match))]
	}
	users := make([]wireUser, 0, len(match))
	for _, u := range match {
		users = append(users, s.wireLocked(u, now))
	}
	return reply{Status: http.StatusOK, Body: map[string]any{"users": users, "total": total}}
}

// wireUser is a user as the panel answers it (UserResponse).
type wireUser struct {
	Username               string                    `json:"username"`
	Status                 string                    `json:"status"`
	Proxies                map[string]map[string]any `json:"proxies"`
	Expire                 *int64                    `json:"expire"`
	DataLimit              *int64                    `json:"data_limit"`
	DataLimitResetStrategy string                    `json:"data_limit_reset_strategy"`
	Inbounds               map[string][]string       `json:"inbounds"`
	Note                   *string                   `json:"note"`
	SubUpdatedAt           *string                   `json:"sub_updated_at"`
	SubLastUserAgent       *string                   `json:"sub_last_user_agent"`
	OnlineAt               *string                   `json:"online_at"`
	OnHoldExpireDuration   *int64                    `json:"on_hold_expire_duration"`
	OnHoldTimeout          *string                   `json:"on_hold_timeout"`
	AutoDeleteInDays       *int64                    `json:"auto_delete_in_days"`
	NextPlan               any                       `json:"next_plan"`
	UsedTraffic            int64                     `json:"used_traffic"`
	LifetimeUsedTraffic    int64                     `json:"lifetime_used_traffic"`
	CreatedAt              string                    `json:"created_at"`
	Links                  []string                  `json:"links"`
	SubscriptionURL        string                    `json:"subscription_url"`
	ExcludedInbounds       map[string][]string       `json:"excluded_inbounds"`
	Admin                  map[string]any            `json:"admin"`
}

// pyTime formats a naive UTC datetime as pydantic serialises it.
func pyTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 != 0 {
		return t.Format("2006-01-02T15:04:05.000000")
	}
	return t.Format("2006-01-02T15:04:05")
}

func optional[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// wireLocked renders u as answered at now, with a subscription URL whose
// token is issued now.
func (s *Server) wireLocked(u *User, now time.Time) wireUser {
	w := wireUser{
		Username: u.Username, Status: u.Status, Proxies: map[string]map[string]any{},
		Expire: optional(u.Expire), DataLimit: optional(u.DataLimit),
		DataLimitResetStrategy: u.DataLimitResetStrategy, Inbounds: map[string][]string{},
		Note: optional(u.Note), SubLastUserAgent: optional(u.SubLastUserAgent),
		OnHoldExpireDuration: optional(u.OnHoldExpireDuration),
		UsedTraffic:          u.UsedTraffic, LifetimeUsedTraffic: u.UsedTraffic,
		CreatedAt: pyTime(u.CreatedAt), Links: s.links(u),
		SubscriptionURL:  s.cfg.SubscriptionURLPrefix + "/sub/" + s.subTokenLocked(u.Username, now),
		ExcludedInbounds: map[string][]string{},
		Admin:            map[string]any{"username": s.cfg.Username, "is_sudo": true, "telegram_id": nil, "discord_webhook": nil},
	}
	if !u.SubUpdatedAt.IsZero() {
		w.SubUpdatedAt = optional(pyTime(u.SubUpdatedAt))
	}
	for proto, p := range u.Proxies {
		w.Proxies[proto] = p.wire(proto)
		w.Inbounds[proto] = slices.Clone(u.Inbounds[proto])
		excluded := []string{}
		for _, in := range s.cfg.Inbounds {
			if in.Protocol == proto && !slices.Contains(u.Inbounds[proto], in.Tag) {
				excluded = append(excluded, in.Tag)
			}
		}
		w.ExcludedInbounds[proto] = excluded
	}
	return w
}

// wire renders the settings as the panel does for proto.
func (p Proxy) wire(proto string) map[string]any {
	switch proto {
	case VLESS:
		return map[string]any{"id": p.ID, "flow": p.Flow}
	case VMess:
		return map[string]any{"id": p.ID}
	case Trojan:
		return map[string]any{"password": p.Password, "flow": p.Flow}
	default:
		return map[string]any{"password": p.Password, "method": p.Method}
	}
}
