package vpn

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// XUIConfig sets up a 3x-ui adapter.
type XUIConfig struct {
	// BaseURL is the panel's URL including its web base path, e.g.
	// https://panel.example.com:2053/Xk3pQ/ (the path the panel's login page
	// is at).
	BaseURL string
	// Username and Password are a panel login. Two-factor login is not
	// supported.
	Username, Password string
	// InboundID is the inbound whose clients are the bot's accounts: a VLESS
	// or VMess inbound, whose clients the panel keys by their id.
	InboundID int
	// SubscriptionURL is the base of the subscription links, the
	// subscription server's URL and path without the subId, e.g.
	// https://panel.example.com:2096/sub.
	SubscriptionURL string
	// Timeout bounds each HTTP request (default DefaultTimeout).
	Timeout time.Duration
	// NamePrefix starts every client email this bot makes (default
	// DefaultNamePrefix).
	NamePrefix string
	// PageSize is how many accounts Accounts returns a page (default 200).
	PageSize int
}

// XUI keeps users' accounts as the clients of one inbound of a 3x-ui panel,
// the client email being the account name and the client id its ID.
//
// It speaks both lines sellers run, told apart at each login, never
// configured: 2.8–2.9 (a cookie session; the inbound client routes
// addClient, updateClient/{clientId} and {id}/delClient/{clientId}), 3.0
// (the same routes behind a CSRF token) and 3.1 on (the CSRF token and
// /panel/api/clients/*). A panel that offers GET /csrf-token wants the
// token; one that then serves GET /panel/api/clients/get/{email} has the
// clients API. Reads use GET /panel/api/inbounds/get/{id} on every line.
//
// The panel answers a lost session (expired, or the panel restarted) with a
// 404, a 401 or a 403: the adapter logs in again once and repeats the call,
// and reports what the second answer says.
type XUI struct {
	api      *apiClient
	csrf     *xuiCSRFTransport
	user     string
	password string
	inbound  int
	subBase  string
	prefix   string
	pageSize int

	// mu serialises logins, so that calls finding the session lost at once
	// log in once; it guards gen and line.
	mu   sync.Mutex
	gen  int // counts logins; 0 before the first
	line xuiLine
}

var _ Panel = (*XUI)(nil)

// xuiLine is what the logged-in panel serves.
type xuiLine struct {
	csrf       bool // 3.0 on
	clientsAPI bool // 3.1 on
}

const (
	xuiPageSize = 200
	// xuiMaxName bounds the client emails this adapter makes; the panel
	// itself sets no length.
	xuiMaxName = 64
	// xuiSubIDLen is the length of the subscription ids the panel's own
	// form makes.
	xuiSubIDLen = 16
)

// NewXUI returns an adapter for cfg. It makes no request.
func NewXUI(cfg XUIConfig) (*XUI, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("3x-ui BaseURL must be an http(s):// URL with a host")
	}
	s, err := url.Parse(cfg.SubscriptionURL)
	if err != nil || (s.Scheme != "https" && s.Scheme != "http") || s.Host == "" {
		return nil, errors.New("3x-ui SubscriptionURL must be an http(s):// URL with a host")
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("3x-ui Username and Password are required")
	}
	if cfg.InboundID <= 0 {
		return nil, fmt.Errorf("3x-ui InboundID %d: must be positive", cfg.InboundID)
	}
	prefix, err := accountPrefix(cfg.NamePrefix, xuiMaxName)
	if err != nil {
		return nil, fmt.Errorf("3x-ui: %w", err)
	}
	pageSize := cfg.PageSize
	if pageSize <= 0 {
		pageSize = xuiPageSize
	}
	api := newAPIClient("3x-ui", u.String(), http.Header{}, nil, cfg.Timeout)
	// The session lives in a cookie, and 3.x wants its CSRF token on every
	// unsafe request: both belong to the adapter's one HTTP client.
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("3x-ui: making the cookie jar: %w", err)
	}
	csrf := &xuiCSRFTransport{base: api.client.Transport}
	api.client.Jar, api.client.Transport = jar, csrf
	return &XUI{
		api: api, csrf: csrf, user: cfg.Username, password: cfg.Password, inbound: cfg.InboundID,
		subBase: strings.TrimSuffix(s.String(), "/"), prefix: prefix, pageSize: pageSize,
	}, nil
}

// Kind is KindXUI.
func (x *XUI) Kind() string { return KindXUI }

// AccountName is the name CreateAccount gives the user's account.
func (x *XUI) AccountName(userID int64) string { return AccountName(x.prefix, userID) }

// Close releases idle connections to the panel.
func (x *XUI) Close() error {
	x.api.Close()
	return nil
}

// xuiCSRFTransport adds the session's CSRF token to unsafe requests, as the
// panel's own pages do.
type xuiCSRFTransport struct {
	base http.RoundTripper

	mu    sync.Mutex
	token string
}

func (t *xuiCSRFTransport) set(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.token = token
}

func (t *xuiCSRFTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	token := t.token
	t.mu.Unlock()
	if token == "" || req.Method == http.MethodGet {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Header.Set("X-CSRF-Token", token)
	return t.base.RoundTrip(r)
}

// xuiMsg is the panel's answer to every call (entity.Msg).
type xuiMsg struct {
	Success bool            `json:"success"`
	Msg     string          `json:"msg"`
	Obj     json.RawMessage `json:"obj"`
}

// xuiRequest builds a call for the line the panel serves.
type xuiRequest func(l xuiLine) (method, path string, body any)

// call sends a request within a session, logging in first if there is
// none, and once more if the panel answers that the session is lost.
func (x *XUI) call(ctx context.Context, req xuiRequest) (xuiMsg, error) {
	gen, l, err := x.session(ctx)
	if err != nil {
		return xuiMsg{}, err
	}
	method, path, body := req(l)
	a, err := x.api.do(ctx, method, path, body)
	if err != nil {
		return xuiMsg{}, xuiRedact(err, path)
	}
	if xuiSessionLost(a) {
		if l, err = x.relogin(ctx, gen); err != nil {
			return xuiMsg{}, err
		}
		method, path, body = req(l)
		if a, err = x.api.do(ctx, method, path, body); err != nil {
			return xuiMsg{}, xuiRedact(err, path)
		}
	}
	op := method + " " + xuiShownPath(path)
	switch {
	case a.status == http.StatusNotFound:
		return xuiMsg{}, fmt.Errorf("3x-ui %s: answered 404 after a fresh login: the panel does not serve this path (an unknown version?)", op)
	case a.status != http.StatusOK:
		return xuiMsg{}, x.api.statusError(op, a, "")
	case !xuiJSONObject(a.body):
		return xuiMsg{}, fmt.Errorf("3x-ui %s: answered a page, not JSON, after a fresh login", op)
	}
	var m xuiMsg
	if err := x.api.decode(op, a, &m); err != nil {
		return xuiMsg{}, err
	}
	return m, nil
}

// xuiShownPath is path as errors may show it: 2.x's routes carry the client
// id, which is the VLESS credential itself.
func xuiShownPath(path string) string {
	for _, route := range []string{"/updateClient/", "/delClient/"} {
		if i := strings.Index(path, route); i >= 0 {
			return path[:i+len(route)] + "{clientId}"
		}
	}
	return path
}

// xuiRedact keeps the client id in path out of err's text, keeping its kind.
func xuiRedact(err error, path string) error {
	shown := xuiShownPath(path)
	if shown == path || !strings.Contains(err.Error(), path) {
		return err
	}
	return xuiRedactedError{err: err, text: strings.ReplaceAll(err.Error(), path, shown)}
}

type xuiRedactedError struct {
	err  error
	text string
}

func (e xuiRedactedError) Error() string { return e.text }
func (e xuiRedactedError) Unwrap() error { return e.err }

// xuiSessionLost tells an answer that means "log in first": a 404 for the
// hidden API (2.x, and 3.x without X-Requested-With), a 401, a 403 for a
// CSRF token the panel no longer knows, or the login page a redirect led to.
func xuiSessionLost(a answer) bool {
	switch a.status {
	case http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden:
		return true
	case http.StatusOK:
		return !xuiJSONObject(a.body)
	default:
		return false
	}
}

func xuiJSONObject(b []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(b), []byte("{"))
}

// session returns the current login, logging in if there is none yet.
func (x *XUI) session(ctx context.Context) (int, xuiLine, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.gen == 0 {
		if err := x.loginLocked(ctx); err != nil {
			return 0, xuiLine{}, err
		}
	}
	return x.gen, x.line, nil
}

// relogin logs in again unless another call already did since login seen.
func (x *XUI) relogin(ctx context.Context, seen int) (xuiLine, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.gen == seen {
		if err := x.loginLocked(ctx); err != nil {
			return xuiLine{}, err
		}
	}
	return x.line, nil
}

// loginLocked logs in and finds out what the panel serves: a CSRF token
// from GET /csrf-token (3.0 on; 404 before), then the clients API (3.1 on).
func (x *XUI) loginLocked(ctx context.Context) error {
	var l xuiLine
	a, err := x.api.do(ctx, http.MethodGet, "/csrf-token", nil)
	if err != nil {
		return fmt.Errorf("logging in to 3x-ui: %w", err)
	}
	token := ""
	switch {
	case a.status == http.StatusNotFound:
	case a.status == http.StatusOK && xuiJSONObject(a.body):
		var m struct {
			Success bool   `json:"success"`
			Obj     string `json:"obj"`
		}
		if err := x.api.decode("GET /csrf-token", a, &m); err != nil {
			return fmt.Errorf("logging in to 3x-ui: %w", err)
		}
		if !m.Success || m.Obj == "" {
			return errors.New("logging in to 3x-ui: GET /csrf-token gave no token")
		}
		l.csrf, token = true, m.Obj
	default:
		return fmt.Errorf("logging in to 3x-ui: %w", x.api.statusError("GET /csrf-token", a, ""))
	}
	x.csrf.set(token)

	a, err = x.api.do(ctx, http.MethodPost, "/login", map[string]string{"username": x.user, "password": x.password})
	if err != nil {
		return fmt.Errorf("logging in to 3x-ui: %w", err)
	}
	switch {
	case a.status == http.StatusNotFound:
		return fmt.Errorf("logging in to 3x-ui: %w: no login page at BaseURL: check its web base path", ErrUnauthorized)
	case a.status != http.StatusOK || !xuiJSONObject(a.body):
		return fmt.Errorf("logging in to 3x-ui: %w", x.api.statusError("POST /login", a, ""))
	}
	var m xuiMsg
	if err := x.api.decode("POST /login", a, &m); err != nil {
		return fmt.Errorf("logging in to 3x-ui: %w", err)
	}
	if !m.Success {
		return fmt.Errorf("logging in to 3x-ui: %w: %s", ErrUnauthorized, truncate(m.Msg, 300))
	}

	if l.csrf {
		// A route of the clients API: 3.1 answers it ({success:false} for a
		// client it has not), 3.0 does not know it.
		path := "/panel/api/clients/get/" + url.PathEscape(x.prefix+"_probe")
		a, err := x.api.do(ctx, http.MethodGet, path, nil)
		if err != nil {
			return fmt.Errorf("finding the 3x-ui version: %w", err)
		}
		switch {
		case a.status == http.StatusNotFound:
		case a.status == http.StatusOK && xuiJSONObject(a.body):
			l.clientsAPI = true
		default:
			return fmt.Errorf("finding the 3x-ui version: %w", x.api.statusError(http.MethodGet+" "+path, a, ""))
		}
	}
	x.gen++
	x.line = l
	return nil
}

// xuiClient is a client of the inbound: the fields the adapter reads, and
// all of them as the panel has them, to send back whole on an update (the
// panel replaces a client with what it is sent).
type xuiClient struct {
	raw        map[string]json.RawMessage
	ID         string `json:"id"`
	Email      string `json:"email"`
	Enable     bool   `json:"enable"`
	ExpiryTime int64  `json:"expiryTime"` // unix ms; 0 never, negative: counts from first use
	TotalGB    int64  `json:"totalGB"`    // bytes, despite the name; 0 unlimited
	SubID      string `json:"subId"`
	used       int64  // up and down, from the inbound's clientStats
}

// clients reads the inbound's clients, in the inbound's order.
func (x *XUI) clients(ctx context.Context) ([]xuiClient, error) {
	path := "/panel/api/inbounds/get/" + strconv.Itoa(x.inbound)
	m, err := x.call(ctx, func(xuiLine) (string, string, any) { return http.MethodGet, path, nil })
	if err != nil {
		return nil, fmt.Errorf("reading 3x-ui inbound %d: %w", x.inbound, err)
	}
	if !m.Success {
		return nil, fmt.Errorf("reading 3x-ui inbound %d (check InboundID): the panel answered: %s", x.inbound, truncate(m.Msg, 300))
	}
	var in struct {
		Settings    json.RawMessage `json:"settings"`
		ClientStats []struct {
			Email string `json:"email"`
			Up    int64  `json:"up"`
			Down  int64  `json:"down"`
		} `json:"clientStats"`
	}
	if err := json.Unmarshal(m.Obj, &in); err != nil {
		return nil, fmt.Errorf("reading 3x-ui inbound %d: %w", x.inbound, err)
	}
	// Settings are JSON text in a string before 3.1, an object from 3.1 on.
	settings := in.Settings
	var text string
	if json.Unmarshal(settings, &text) == nil {
		settings = json.RawMessage(text)
	}
	var s struct {
		Clients []json.RawMessage `json:"clients"`
	}
	if err := json.Unmarshal(settings, &s); err != nil {
		return nil, fmt.Errorf("reading 3x-ui inbound %d's settings: %w", x.inbound, err)
	}
	used := make(map[string]int64, len(in.ClientStats))
	for _, st := range in.ClientStats {
		used[strings.ToLower(st.Email)] = st.Up + st.Down
	}
	out := make([]xuiClient, 0, len(s.Clients))
	for _, raw := range s.Clients {
		var c xuiClient
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("reading a client of 3x-ui inbound %d: %w", x.inbound, err)
		}
		if err := json.Unmarshal(raw, &c.raw); err != nil {
			return nil, fmt.Errorf("reading a client of 3x-ui inbound %d: %w", x.inbound, err)
		}
		c.used = used[strings.ToLower(c.Email)]
		out = append(out, c)
	}
	return out, nil
}

// findXUIClient returns the client ref names: by its email, which stays for life
// (the id changes on rotation), or by the id when the ref has no name.
func findXUIClient(clients []xuiClient, ref Ref) (xuiClient, bool) {
	for _, c := range clients {
		if (ref.Name != "" && strings.EqualFold(c.Email, ref.Name)) || (ref.Name == "" && ref.ID != "" && c.ID == ref.ID) {
			return c, true
		}
	}
	return xuiClient{}, false
}

// client reads the client ref names; a missing one is ErrNotFound, bare for
// the caller to say which.
func (x *XUI) client(ctx context.Context, ref Ref) (xuiClient, error) {
	clients, err := x.clients(ctx)
	if err != nil {
		return xuiClient{}, err
	}
	c, ok := findXUIClient(clients, ref)
	if !ok {
		return xuiClient{}, ErrNotFound
	}
	return c, nil
}

// xuiRefText names an account in errors: by its email, never by its id, which
// is the VLESS credential itself.
func xuiRefText(ref Ref) string {
	if ref.Name != "" {
		return ref.Name
	}
	return "(by id)"
}

// account is c as the bot sees it: enabled only while the panel serves it,
// enable set and neither expired nor over its traffic limit.
func (x *XUI) account(c xuiClient) Account {
	a := Account{
		Name: c.Email, ID: c.ID, URL: x.subBase + "/" + url.PathEscape(c.SubID),
		DataLimitBytes: c.TotalGB,
		Enabled:        c.Enable && (c.TotalGB <= 0 || c.used < c.TotalGB),
	}
	if c.ExpiryTime > 0 {
		a.ExpiresAt = time.UnixMilli(c.ExpiryTime).UTC()
		a.Enabled = a.Enabled && a.ExpiresAt.After(time.Now())
	}
	return a
}

// xuiCheckState rejects a state the panel cannot keep.
func xuiCheckState(want State) error {
	if want.DataLimitBytes < 0 {
		return fmt.Errorf("data limit %d: must not be negative", want.DataLimitBytes)
	}
	return nil
}

// xuiExpiry is t as the panel keeps it: unix ms, 0 for none.
func xuiExpiry(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// CreateAccount returns the client named after the owner, adding it to the
// inbound if the inbound has none of that email. 3.1 on makes every new
// client enabled, so a client wanted disabled is set so after it is added.
func (x *XUI) CreateAccount(ctx context.Context, o Owner, want State) (Account, error) {
	if err := errors.Join(checkOwner(o), xuiCheckState(want)); err != nil {
		return Account{}, fmt.Errorf("creating 3x-ui client: %w", err)
	}
	name := AccountName(x.prefix, o.UserID)
	clients, err := x.clients(ctx)
	if err != nil {
		return Account{}, fmt.Errorf("creating 3x-ui client %s: %w", name, err)
	}
	if c, ok := findXUIClient(clients, Ref{Name: name}); ok {
		return x.account(c), nil
	}

	// The panel's tgId would have its own Telegram bot message the user:
	// the bot leaves it to the operator.
	id := newXUIUUID()
	client := map[string]any{
		"id": id, "email": name, "enable": want.Enabled, "expiryTime": xuiExpiry(want.ExpiresAt),
		"totalGB": want.DataLimitBytes, "subId": xuiSubID(), "limitIp": 0, "tgId": 0,
		"comment": o.Note, "flow": "", "reset": 0,
	}
	m, err := x.call(ctx, func(l xuiLine) (string, string, any) {
		if l.clientsAPI {
			return http.MethodPost, "/panel/api/clients/add", map[string]any{"client": client, "inboundIds": []int{x.inbound}}
		}
		return http.MethodPost, "/panel/api/inbounds/addClient", x.settingsBody(client)
	})
	if err != nil {
		return Account{}, fmt.Errorf("creating 3x-ui client %s: %w", name, err)
	}
	c, err := x.client(ctx, Ref{Name: name})
	switch {
	case errors.Is(err, ErrNotFound) && !m.Success:
		return Account{}, fmt.Errorf("creating 3x-ui client %s: the panel refused: %s", name, truncate(m.Msg, 300))
	case err != nil:
		return Account{}, fmt.Errorf("reading 3x-ui client %s after adding it: %w", name, err)
	case c.ID != id:
		// Another CreateAccount added it first: adopt it as it is.
		return x.account(c), nil
	}
	a := x.account(c)
	if a.Enabled != want.Enabled {
		return x.SetAccount(ctx, a.Ref(), want)
	}
	return a, nil
}

// settingsBody is the body of 2.x's addClient and updateClient: the inbound
// id and its settings as JSON text holding the one client.
func (x *XUI) settingsBody(client any) map[string]any {
	settings, _ := json.Marshal(map[string][]any{"clients": {client}}) // plain values always encode
	return map[string]any{"id": x.inbound, "settings": string(settings)}
}

// Account reads one client; a missing one is ErrNotFound.
func (x *XUI) Account(ctx context.Context, ref Ref) (Account, error) {
	c, err := x.client(ctx, ref)
	if err != nil {
		return Account{}, fmt.Errorf("reading 3x-ui client %s: %w", xuiRefText(ref), err)
	}
	return x.account(c), nil
}

// SetAccount sets the client's enable, expiryTime and totalGB, keeping the
// rest of it. Traffic already used stays counted: a client over its limit
// works again with a larger one.
func (x *XUI) SetAccount(ctx context.Context, ref Ref, want State) (Account, error) {
	if err := xuiCheckState(want); err != nil {
		return Account{}, fmt.Errorf("setting 3x-ui client %s: %w", xuiRefText(ref), err)
	}
	return x.update(ctx, "setting", ref, func(c xuiClient) {
		c.set("enable", want.Enabled)
		c.set("expiryTime", xuiExpiry(want.ExpiresAt))
		c.set("totalGB", want.DataLimitBytes)
	})
}

// RotateAccount gives the client a new id and a new subId: the old link no
// longer answers, and a VPN app still holding the old id is refused.
func (x *XUI) RotateAccount(ctx context.Context, ref Ref) (Account, error) {
	return x.update(ctx, "rotating", ref, func(c xuiClient) {
		c.set("id", newXUIUUID())
		c.set("subId", xuiSubID())
	})
}

// set changes a field of the client as it is sent back; the raw map is
// shared by every copy of c.
func (c xuiClient) set(field string, v any) {
	b, _ := json.Marshal(v) // plain values always encode
	c.raw[field] = b
}

// update sends the client back changed by change, and reads it again.
func (x *XUI) update(ctx context.Context, doing string, ref Ref, change func(xuiClient)) (Account, error) {
	c, err := x.client(ctx, ref)
	if err != nil {
		return Account{}, fmt.Errorf("%s 3x-ui client %s: %w", doing, xuiRefText(ref), err)
	}
	change(c)
	m, err := x.call(ctx, func(l xuiLine) (string, string, any) {
		if l.clientsAPI {
			return http.MethodPost, "/panel/api/clients/update/" + url.PathEscape(c.Email), c.raw
		}
		return http.MethodPost, "/panel/api/inbounds/updateClient/" + url.PathEscape(c.ID), x.settingsBody(c.raw)
	})
	if err != nil {
		return Account{}, fmt.Errorf("%s 3x-ui client %s: %w", doing, c.Email, err)
	}
	got, err := x.client(ctx, Ref{Name: c.Email})
	if err != nil {
		return Account{}, fmt.Errorf("%s 3x-ui client %s: reading it back: %w", doing, c.Email, err)
	}
	if !m.Success {
		return Account{}, fmt.Errorf("%s 3x-ui client %s: the panel refused: %s", doing, c.Email, truncate(m.Msg, 300))
	}
	return x.account(got), nil
}

// DeleteAccount removes the client from the inbound; a missing one is fine.
// Before 3.1 the panel keeps an inbound's last client, so an inbound the bot
// uses needs one client of the operator's besides.
func (x *XUI) DeleteAccount(ctx context.Context, ref Ref) error {
	clients, err := x.clients(ctx)
	if err != nil {
		return fmt.Errorf("deleting 3x-ui client %s: %w", xuiRefText(ref), err)
	}
	c, ok := findXUIClient(clients, ref)
	if !ok {
		return nil
	}
	m, err := x.call(ctx, func(l xuiLine) (string, string, any) {
		if l.clientsAPI {
			return http.MethodPost, "/panel/api/clients/del/" + url.PathEscape(c.Email), nil
		}
		return http.MethodPost, fmt.Sprintf("/panel/api/inbounds/%d/delClient/%s", x.inbound, url.PathEscape(c.ID)), nil
	})
	if err != nil {
		return fmt.Errorf("deleting 3x-ui client %s: %w", c.Email, err)
	}
	if m.Success {
		return nil
	}
	if _, err := x.client(ctx, Ref{Name: c.Email}); errors.Is(err, ErrNotFound) {
		return nil // another call deleted it first
	}
	hint := ""
	if len(clients) == 1 {
		hint = fmt.Sprintf(" (3x-ui before 3.1 keeps an inbound's last client: give inbound %d a client of your own)", x.inbound)
	}
	return fmt.Errorf("deleting 3x-ui client %s: the panel refused: %s%s", c.Email, truncate(m.Msg, 300), hint)
}

// Accounts pages through the inbound's clients named by this bot's prefix,
// in the order of their user ids; the cursor is the last user id returned,
// so clients added or removed between pages move no other.
func (x *XUI) Accounts(ctx context.Context, cursor string) (Page, error) {
	after := int64(0)
	if cursor != "" {
		v, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || v <= 0 {
			return Page{}, fmt.Errorf("listing 3x-ui clients: cursor %q is not one Accounts returned", cursor)
		}
		after = v
	}
	clients, err := x.clients(ctx)
	if err != nil {
		return Page{}, fmt.Errorf("listing 3x-ui clients: %w", err)
	}
	type owned struct {
		user int64
		c    xuiClient
	}
	var ours []owned
	for _, c := range clients {
		if u, ok := AccountUser(x.prefix, c.Email); ok && u > after {
			ours = append(ours, owned{u, c})
		}
	}
	slices.SortFunc(ours, func(a, b owned) int { return cmp.Compare(a.user, b.user) })
	var p Page
	for i, o := range ours {
		if i == x.pageSize {
			p.Next = strconv.FormatInt(ours[i-1].user, 10)
			break
		}
		p.Accounts = append(p.Accounts, x.account(o.c))
	}
	return p, nil
}

// newXUIUUID returns a random (version 4) UUID, a VLESS client id.
func newXUIUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// xuiSubID returns a subscription id as the panel's form makes them:
// lowercase letters and digits.
func xuiSubID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, xuiSubIDLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
