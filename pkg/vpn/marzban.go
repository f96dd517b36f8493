package vpn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MarzbanConfig sets up a Marzban adapter.
type MarzbanConfig struct {
	// BaseURL is the panel's URL without /api, e.g. https://panel.example.com.
	BaseURL string
	// Username and Password are a panel admin's, exchanged for a token at
	// POST /api/admin/token. A sudo admin sees every user; another sees only
	// the users it made.
	Username string
	Password string
	// Proxies are the protocols new users get: "vless" (the default),
	// "vmess", "trojan", "shadowsocks". Each needs an inbound on the panel.
	Proxies []string
	// Inbounds optionally narrows, by protocol, the inbound tags new users
	// get; a protocol left out gets all of its inbounds.
	Inbounds map[string][]string
	// Timeout bounds each HTTP request (default DefaultTimeout).
	Timeout time.Duration
	// NamePrefix starts every username this bot makes (default
	// DefaultNamePrefix): lowercase letters, digits and underscores, at most
	// 11 characters so that "<prefix>_u<user id>" fits the panel's 32.
	NamePrefix string
	// PageSize is how many users Accounts asks for a page (default 200).
	PageSize int
}

// Marzban keeps one account per user on a Marzban panel: the panel user
// named AccountName, which is also the account's ID. The panel enforces the
// expiry and the data limit itself; the adapter logs in with the admin's
// credentials and logs in again, once, when the panel refuses its token.
type Marzban struct {
	api      *apiClient
	base     *url.URL
	username string
	password string
	prefix   string
	proxies  []string
	inbounds map[string][]string
	pageSize int

	// login holds the right to log in: one login at a time, which the
	// others then use.
	login chan struct{}
	mu    sync.Mutex
	token string
	// links is, by username, the subscription URL handed out for the
	// user's current credentials (see link).
	links map[string]mzLink
}

var _ Panel = (*Marzban)(nil)

// mzLink is a subscription URL and the credentials it was issued for.
type mzLink struct {
	credentials string
	url         string
}

const (
	// mzMaxName is the panel's longest username.
	mzMaxName = 32
	// mzPageSize is MarzbanConfig.PageSize's default.
	mzPageSize = 200
	// mzMaxNote is the longest note the panel keeps.
	mzMaxNote = 500
	// mzRevokePoll is how often RotateAccount looks whether the panel's
	// clock has left the second of its first revocation.
	mzRevokePoll = 200 * time.Millisecond
)

// Marzban's user statuses; the panel sets limited and expired itself.
const (
	mzActive   = "active"
	mzDisabled = "disabled"
	mzLimited  = "limited"
)

var (
	// mzPrefixPattern keeps names within the panel's usernames (letters,
	// digits, underscores), in lowercase, as the panel's docs ask.
	mzPrefixPattern = regexp.MustCompile(`^[a-z0-9_]+$`)
	mzProtocols     = []string{"vless", "vmess", "trojan", "shadowsocks"}
)

// NewMarzban returns an adapter for cfg. It makes no request.
func NewMarzban(cfg MarzbanConfig) (*Marzban, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("marzban BaseURL must be an http(s):// URL with a host")
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("marzban Username and Password are required")
	}
	prefix, err := accountPrefix(cfg.NamePrefix, mzMaxName)
	if err != nil {
		return nil, fmt.Errorf("marzban: %w", err)
	}
	if !mzPrefixPattern.MatchString(prefix) {
		return nil, fmt.Errorf("marzban: name prefix %q: want lowercase letters, digits and '_'", prefix)
	}
	proxies := slices.Clone(cfg.Proxies)
	if len(proxies) == 0 {
		proxies = []string{"vless"}
	}
	for _, p := range proxies {
		if !slices.Contains(mzProtocols, p) {
			return nil, fmt.Errorf("marzban: proxy %q: want one of %v", p, mzProtocols)
		}
	}
	for p := range cfg.Inbounds {
		if !slices.Contains(proxies, p) {
			return nil, fmt.Errorf("marzban: inbounds for %q, which is not among the proxies %v", p, proxies)
		}
	}
	pageSize := cfg.PageSize
	if pageSize <= 0 {
		pageSize = mzPageSize
	}
	base := strings.TrimSuffix(u.String(), "/")
	api := newAPIClient(KindMarzban, base+"/api", http.Header{}, nil, cfg.Timeout)
	api.client.Transport = bearerTransport{base: api.client.Transport}
	return &Marzban{
		api: api, base: u, username: cfg.Username, password: cfg.Password, prefix: prefix,
		proxies: proxies, inbounds: cfg.Inbounds, pageSize: pageSize,
		login: make(chan struct{}, 1), links: map[string]mzLink{},
	}, nil
}

// Kind is KindMarzban.
func (m *Marzban) Kind() string { return KindMarzban }

// AccountName is the name CreateAccount gives the user's account.
func (m *Marzban) AccountName(userID int64) string { return AccountName(m.prefix, userID) }

// Close releases idle connections to the panel.
func (m *Marzban) Close() error {
	m.api.Close()
	return nil
}

// mzUser is the part of the panel's UserResponse the adapter reads.
type mzUser struct {
	Username        string                     `json:"username"`
	Status          string                     `json:"status"`
	Expire          *int64                     `json:"expire"`
	DataLimit       *int64                     `json:"data_limit"`
	SubscriptionURL string                     `json:"subscription_url"`
	Proxies         map[string]json.RawMessage `json:"proxies"`
	CreatedAt       string                     `json:"created_at"`
}

// mzCreateUser is the body of POST /api/user.
type mzCreateUser struct {
	Username               string                     `json:"username"`
	Status                 string                     `json:"status"`
	Expire                 int64                      `json:"expire"`
	DataLimit              int64                      `json:"data_limit"`
	DataLimitResetStrategy string                     `json:"data_limit_reset_strategy"`
	Proxies                map[string]json.RawMessage `json:"proxies"`
	Inbounds               map[string][]string        `json:"inbounds,omitempty"`
	Note                   string                     `json:"note,omitempty"`
}

// mzModifyUser is the body of PUT /api/user/{username}. It leaves proxies
// out: the panel would give every proxy sent without credentials new ones,
// which would end the user's link.
type mzModifyUser struct {
	Status    string `json:"status"`
	Expire    int64  `json:"expire"`
	DataLimit int64  `json:"data_limit"`
}

// CreateAccount returns the owner's user, creating it in state want when the
// panel has none of its name. The panel makes only active users, so a
// disabled want is set after the create.
func (m *Marzban) CreateAccount(ctx context.Context, o Owner, want State) (Account, error) {
	if err := checkOwner(o); err != nil {
		return Account{}, fmt.Errorf("creating marzban user: %w", err)
	}
	if err := mzCheckState(want); err != nil {
		return Account{}, fmt.Errorf("creating marzban user for user %d: %w", o.UserID, err)
	}
	name := AccountName(m.prefix, o.UserID)
	u, err := m.getUser(ctx, name)
	if err == nil {
		return m.account(u), nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Account{}, fmt.Errorf("looking up marzban user %s: %w", name, err)
	}

	proxies := make(map[string]json.RawMessage, len(m.proxies))
	for _, p := range m.proxies {
		proxies[p] = json.RawMessage(`{}`) // the panel makes the credentials
	}
	note := []rune(o.Note)
	const path = "/user"
	a, err := m.call(ctx, http.MethodPost, path, mzCreateUser{
		Username: name, Status: mzActive, Expire: want.ExpiresAt.Unix(), DataLimit: want.DataLimitBytes,
		DataLimitResetStrategy: "no_reset", Proxies: proxies, Inbounds: m.inbounds,
		Note: string(note[:min(len(note), mzMaxNote)]),
	})
	if err != nil {
		return Account{}, fmt.Errorf("creating marzban user %s: %w", name, err)
	}
	switch {
	case a.status == http.StatusOK || a.status == http.StatusCreated:
		if err := m.api.decode(http.MethodPost+" "+path, a, &u); err != nil {
			return Account{}, fmt.Errorf("creating marzban user %s: %w", name, err)
		}
	case a.status == http.StatusConflict:
		// Another call made it between our lookup and our create.
		if u, err = m.getUser(ctx, name); err != nil {
			return Account{}, fmt.Errorf("reading existing marzban user %s: %w", name, err)
		}
		return m.account(u), nil
	default:
		return Account{}, fmt.Errorf("creating marzban user %s: %w", name, m.statusError(http.MethodPost+" "+path, a))
	}
	if !want.Enabled {
		return m.SetAccount(ctx, Ref{ID: name, Name: name}, want)
	}
	return m.account(u), nil
}

// Account reads the user ref names.
func (m *Marzban) Account(ctx context.Context, ref Ref) (Account, error) {
	name, err := mzUsername(ref)
	if err != nil {
		return Account{}, fmt.Errorf("reading marzban user: %w", err)
	}
	u, err := m.getUser(ctx, name)
	if err != nil {
		return Account{}, fmt.Errorf("reading marzban user %s: %w", name, err)
	}
	return m.account(u), nil
}

// SetAccount sets the user's status (active or disabled), expiry and data
// limit. The panel makes an expired or limited user active again by a future
// expiry or a limit above its usage; a user whose usage still reaches the
// limit has its usage reset, as a renewal gives the traffic afresh.
func (m *Marzban) SetAccount(ctx context.Context, ref Ref, want State) (Account, error) {
	name, err := mzUsername(ref)
	if err != nil {
		return Account{}, fmt.Errorf("setting marzban user: %w", err)
	}
	if err := mzCheckState(want); err != nil {
		return Account{}, fmt.Errorf("setting marzban user %s: %w", name, err)
	}
	status := mzActive
	if !want.Enabled {
		status = mzDisabled
	}
	path := "/user/" + url.PathEscape(name)
	u, err := m.userCall(ctx, http.MethodPut, path, mzModifyUser{
		Status: status, Expire: want.ExpiresAt.Unix(), DataLimit: want.DataLimitBytes,
	})
	if err != nil {
		return Account{}, fmt.Errorf("setting marzban user %s: %w", name, err)
	}
	if want.Enabled && u.Status == mzLimited {
		if u, err = m.userCall(ctx, http.MethodPost, path+"/reset", nil); err != nil {
			return Account{}, fmt.Errorf("resetting the usage of marzban user %s: %w", name, err)
		}
	}
	return m.account(u), nil
}

// RotateAccount revokes the user's subscription, which gives its proxies new
// credentials and ends every subscription token issued before. The panel
// keeps tokens to the second and compares them with the instant of the
// revocation, so a token issued earlier within that same second would
// survive: RotateAccount waits until the panel's clock has left that second
// (up to a second) and revokes again.
func (m *Marzban) RotateAccount(ctx context.Context, ref Ref) (Account, error) {
	name, err := mzUsername(ref)
	if err != nil {
		return Account{}, fmt.Errorf("rotating marzban user: %w", err)
	}
	path := "/user/" + url.PathEscape(name)
	u, err := m.userCall(ctx, http.MethodPost, path+"/revoke_sub", nil)
	if err != nil {
		return Account{}, fmt.Errorf("rotating marzban user %s: %w", name, err)
	}
	if err := m.waitPastSecond(ctx, name, u.SubscriptionURL); err != nil {
		return Account{}, fmt.Errorf("rotating marzban user %s: %w", name, err)
	}
	if u, err = m.userCall(ctx, http.MethodPost, path+"/revoke_sub", nil); err != nil {
		return Account{}, fmt.Errorf("rotating marzban user %s again: %w", name, err)
	}
	return m.account(u), nil
}

// waitPastSecond waits until the panel issues tokens of a later second than
// the one in subURL, reading the user every mzRevokePoll. A token it cannot
// read is waited out by the adapter's own clock.
func (m *Marzban) waitPastSecond(ctx context.Context, name, subURL string) error {
	issued, ok := mzTokenSecond(subURL)
	if !ok {
		return sleepCtx(ctx, time.Second+mzRevokePoll)
	}
	for {
		if err := sleepCtx(ctx, mzRevokePoll); err != nil {
			return err
		}
		u, err := m.getUser(ctx, name)
		if err != nil {
			return err
		}
		if now, ok := mzTokenSecond(u.SubscriptionURL); !ok || now > issued {
			return nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// mzTokenSecond reads the second a subscription URL's token was issued:
// the panel's tokens are base64url("<username>,<Unix seconds>") followed by
// a ten-character signature.
func mzTokenSecond(subURL string) (int64, bool) {
	token := subURL[strings.LastIndexByte(subURL, '/')+1:]
	if len(token) <= 10 {
		return 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(token[:len(token)-10])
	if err != nil {
		return 0, false
	}
	_, sec, ok := strings.Cut(string(raw), ",")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(sec, 10, 64)
	return v, err == nil
}

// DeleteAccount deletes the user; one already gone is fine.
func (m *Marzban) DeleteAccount(ctx context.Context, ref Ref) error {
	name, err := mzUsername(ref)
	if err != nil {
		return fmt.Errorf("deleting marzban user: %w", err)
	}
	path := "/user/" + url.PathEscape(name)
	a, err := m.call(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return fmt.Errorf("deleting marzban user %s: %w", name, err)
	}
	if a.status != http.StatusOK && !mzUserMissing(a) {
		return fmt.Errorf("deleting marzban user %s: %w", name, m.statusError(http.MethodDelete+" "+path, a))
	}
	m.mu.Lock()
	delete(m.links, name)
	m.mu.Unlock()
	return nil
}

// Accounts returns a page of the users named by this bot's prefix, in
// username order; the cursor is the offset of the next page. A user made or
// deleted between two pages may shift the rest by one, so a reconciliation
// sees a user twice or, rarely, misses one until its next pass.
func (m *Marzban) Accounts(ctx context.Context, cursor string) (Page, error) {
	offset := 0
	if cursor != "" {
		v, err := strconv.Atoi(cursor)
		if err != nil || v < 0 {
			return Page{}, fmt.Errorf("listing marzban users: cursor %q is not one Accounts returned", cursor)
		}
		offset = v
	}
	q := url.Values{}
	q.Set("offset", strconv.Itoa(offset))
	q.Set("limit", strconv.Itoa(m.pageSize))
	q.Set("search", m.prefix+accountInfix)
	q.Set("sort", "username")
	path := "/users?" + q.Encode()
	op := http.MethodGet + " /users"
	a, err := m.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return Page{}, fmt.Errorf("listing marzban users: %w", err)
	}
	if a.status != http.StatusOK {
		return Page{}, fmt.Errorf("listing marzban users: %w", m.statusError(op, a))
	}
	var list struct {
		Users []mzUser `json:"users"`
		Total int      `json:"total"`
	}
	if err := m.api.decode(op, a, &list); err != nil {
		return Page{}, fmt.Errorf("listing marzban users: %w", err)
	}
	var page Page
	for _, u := range list.Users {
		if _, ok := AccountUser(m.prefix, u.Username); ok {
			page.Accounts = append(page.Accounts, m.account(u))
		}
	}
	if next := offset + len(list.Users); len(list.Users) > 0 && next < list.Total {
		page.Next = strconv.Itoa(next)
	}
	return page, nil
}

// getUser reads one user; a missing one is ErrNotFound.
func (m *Marzban) getUser(ctx context.Context, name string) (mzUser, error) {
	return m.userCall(ctx, http.MethodGet, "/user/"+url.PathEscape(name), nil)
}

// userCall makes a call answered by a user; the panel's "User not found"
// is ErrNotFound.
func (m *Marzban) userCall(ctx context.Context, method, path string, in any) (mzUser, error) {
	op := method + " " + path
	a, err := m.call(ctx, method, path, in)
	if err != nil {
		return mzUser{}, err
	}
	switch {
	case a.status == http.StatusOK:
		var u mzUser
		if err := m.api.decode(op, a, &u); err != nil {
			return mzUser{}, err
		}
		return u, nil
	case mzUserMissing(a):
		return mzUser{}, ErrNotFound
	default:
		return mzUser{}, m.statusError(op, a)
	}
}

// mzTokenKey carries a call's admin token in its context, to bearerTransport.
type mzTokenKey struct{}

// bearerTransport sends the token of the request's context as a bearer
// token: each call carries the token it was made with, which call compares
// with the current one when the panel refuses it.
type bearerTransport struct{ base http.RoundTripper }

func (t bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	token, _ := r.Context().Value(mzTokenKey{}).(string)
	if token == "" {
		return t.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return t.base.RoundTrip(r)
}

// call sends one API request with the admin token, logging in first when
// there is none yet, and once more when the panel refuses the token (it
// expired): a second refusal is the answer, never a loop.
func (m *Marzban) call(ctx context.Context, method, path string, in any) (answer, error) {
	token, err := m.adminToken(ctx, "")
	if err != nil {
		return answer{}, err
	}
	a, err := m.api.do(context.WithValue(ctx, mzTokenKey{}, token), method, path, in)
	if err != nil || a.status != http.StatusUnauthorized {
		return a, err
	}
	if token, err = m.adminToken(ctx, token); err != nil {
		return answer{}, err
	}
	return m.api.do(context.WithValue(ctx, mzTokenKey{}, token), method, path, in)
}

// adminToken returns the current admin token, logging in when there is none
// or when it is refused, the token the panel refused. Concurrent callers
// share one login.
func (m *Marzban) adminToken(ctx context.Context, refused string) (string, error) {
	m.mu.Lock()
	token := m.token
	m.mu.Unlock()
	if token != "" && token != refused {
		return token, nil
	}
	select {
	case m.login <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("logging in to marzban: %w", context.Cause(ctx))
	}
	defer func() { <-m.login }()
	m.mu.Lock()
	token = m.token
	m.mu.Unlock()
	if token != "" && token != refused {
		return token, nil // another call logged in meanwhile
	}
	token, err := m.logIn(ctx)
	if err != nil {
		return "", fmt.Errorf("logging in to marzban: %w", err)
	}
	m.mu.Lock()
	m.token = token
	m.mu.Unlock()
	return token, nil
}

// logIn exchanges the admin's credentials for a token: OAuth2's password
// flow, a form rather than the JSON apiClient.do sends, over its client.
func (m *Marzban) logIn(ctx context.Context) (string, error) {
	const path = "/admin/token"
	op := http.MethodPost + " " + path
	form := url.Values{"grant_type": {"password"}, "username": {m.username}, "password": {m.password}}
	reqCtx, cancel := context.WithTimeout(ctx, m.api.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, m.api.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("%s %s: cannot build the request", m.api.panel, op)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := m.api.client.Do(req)
	if err != nil {
		return "", m.api.transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return "", m.api.transportError(ctx, op, err)
	}
	a := answer{status: resp.StatusCode, body: data}
	if a.status != http.StatusOK {
		return "", m.statusError(op, a)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := m.api.decode(op, a, &t); err != nil {
		return "", err
	}
	if t.AccessToken == "" {
		return "", fmt.Errorf("%s %s: the answer has no access_token", m.api.panel, op)
	}
	return t.AccessToken, nil
}

// mzDetail is FastAPI's error body: {"detail": "..."}, or for a validation
// failure {"detail": {"<field>": "<message>"}} as the panel words it.
type mzDetail struct {
	Detail json.RawMessage `json:"detail"`
}

// text renders the detail for an operator.
func (d mzDetail) text() string {
	if len(d.Detail) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(d.Detail, &s) == nil {
		return s
	}
	var fields map[string]any
	if json.Unmarshal(d.Detail, &fields) == nil {
		parts := make([]string, 0, len(fields))
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			parts = append(parts, fmt.Sprintf("%s: %v", k, fields[k]))
		}
		return strings.Join(parts, "; ")
	}
	return string(d.Detail)
}

func mzDetailOf(a answer) string {
	var d mzDetail
	_ = json.Unmarshal(a.body, &d) // a body that is not the panel's leaves no detail
	return d.text()
}

// mzUserMissing tells the panel's 404 "User not found" from a 404 for a
// path the panel does not serve, which would otherwise make DeleteAccount
// report success against a wrong BaseURL.
func mzUserMissing(a answer) bool {
	return a.status == http.StatusNotFound && mzDetailOf(a) == "User not found"
}

func (m *Marzban) statusError(op string, a answer) error {
	detail := mzDetailOf(a)
	if a.status == http.StatusNotFound {
		return fmt.Errorf("marzban %s: answered 404: the panel does not serve this path: check BaseURL (%s)", op, detail)
	}
	return m.api.statusError(op, a, detail)
}

// mzUsername is the username ref names: Name when set (an ID is the same
// username, or one the panel no longer knows), else ID.
func mzUsername(ref Ref) (string, error) {
	if ref.Name != "" {
		return ref.Name, nil
	}
	if ref.ID != "" {
		return ref.ID, nil
	}
	return "", errors.New("the reference names no account")
}

// mzCheckState rejects a state the panel cannot hold as the bot means it.
func mzCheckState(want State) error {
	if want.ExpiresAt.IsZero() {
		return errors.New("the state has no expiry")
	}
	if want.DataLimitBytes < 0 {
		return fmt.Errorf("data limit %d: must not be negative", want.DataLimitBytes)
	}
	return nil
}

// account is the Account the panel's user is. Enabled only for active: a
// disabled, expired, limited or on-hold user does not work now.
func (m *Marzban) account(u mzUser) Account {
	a := Account{Name: u.Username, ID: u.Username, URL: m.link(u), Enabled: u.Status == mzActive}
	if u.Expire != nil && *u.Expire > 0 {
		a.ExpiresAt = time.Unix(*u.Expire, 0).UTC()
	}
	if u.DataLimit != nil {
		a.DataLimitBytes = *u.DataLimit
	}
	return a
}

// link is the user's subscription URL, made absolute against BaseURL (the
// panel answers "/sub/<token>" unless it is configured with a prefix). The
// panel issues a new token, hence a new URL, with every answer; each works
// until the subscription is revoked, which gives the proxies new
// credentials. So the adapter keeps handing out the URL it first saw for
// the user's current credentials (and creation time): the same link for the
// same account, as long as this adapter runs.
func (m *Marzban) link(u mzUser) string {
	sub := u.SubscriptionURL
	if ref, err := url.Parse(sub); err == nil && !ref.IsAbs() {
		sub = m.base.ResolveReference(ref).String()
	}
	creds, _ := json.Marshal(u.Proxies) // raw JSON by sorted keys always encodes
	fingerprint := u.CreatedAt + "|" + string(creds)
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.links[u.Username]; ok && l.credentials == fingerprint {
		return l.url
	}
	m.links[u.Username] = mzLink{credentials: fingerprint, url: sub}
	return sub
}
