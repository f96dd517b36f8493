package webapp_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/clocktest"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	sandboxcp "github.com/vpnbot/vpnbot/pkg/sandbox/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/shop/shoptest"
	"github.com/vpnbot/vpnbot/pkg/webappauth"
	"github.com/vpnbot/vpnbot/services/webapp/internal/webapp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	botToken  = "123456789:AAwebapp-test_token"
	cpToken   = "12345:AAcryptopay"
	otherBot  = "987654321:AAsomebody-else"
	sessionTT = time.Hour
)

// env is a web app over a fresh schema, its shop, a moved clock and a
// sandbox Crypto Pay.
type env struct {
	token   string
	db      *pgdbtest.DB
	shop    *shop.Shop
	clock   *clocktest.Clock
	cp      *sandboxcp.Server
	reg     *prometheus.Registry
	logs    *obstest.LogBuffer
	handler http.Handler
}

type option func(*webapp.Config)

func newEnv(t testing.TB, opts ...option) *env {
	t.Helper()
	db := pgdbtest.New(t)
	c := clocktest.New(time.Now().UTC().Truncate(time.Second))
	cp := sandboxcp.New(sandboxcp.Config{Token: cpToken, Log: zerolog.Nop()})
	require.NoError(t, cp.Start("127.0.0.1:0"))
	t.Cleanup(cp.Close)
	client, err := cryptopay.New(cryptopay.Config{BaseURL: cp.URL(), Token: cpToken, Timeout: 5 * time.Second})
	require.NoError(t, err)
	e := &env{token: botToken, db: db, clock: c, cp: cp, reg: prometheus.NewRegistry(), logs: &obstest.LogBuffer{},
		shop: shop.New(db.Pool, shop.Config{NowFunc: c.Now})}
	cfg := webapp.Config{
		Shop: e.shop, BotToken: botToken, BotUsername: "vpn_test_bot",
		SessionTTL: sessionTT, CryptoPay: client, CryptoAssets: []string{"USDT"},
		IPRate: 1000, IPBurst: 1000, UserRate: 1000, UserBurst: 1000,
		NowFunc: c.Now, Log: obstest.NewLogger(e.logs), Registerer: e.reg,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := webapp.New(cfg)
	require.NoError(t, err)
	e.token = cfg.BotToken
	e.handler = srv.Handler()
	return e
}

// user records a user who started the bot.
func (e *env) user(t testing.TB, id int64, lang string) {
	t.Helper()
	_, err := e.db.Pool.Exec(t.Context(),
		`INSERT INTO users (id, chat_id, first_name, username, language) VALUES ($1, $1, $2, $3, $4)`,
		id, "User"+strconv.FormatInt(id, 10), "user"+strconv.FormatInt(id, 10), lang)
	require.NoError(t, err)
}

// trialWithKey gives user a trial whose key link is key.
func (e *env) trialWithKey(t testing.TB, user int64, key string) shop.Subscription {
	t.Helper()
	sub, err := e.shop.StartTrial(t.Context(), user)
	require.NoError(t, err)
	shoptest.SeedAccess(t, e.db.Pool, sub.ID, "outline", key)
	return sub
}

func (e *env) initData(id int64) string {
	return webappauth.Sign(e.token, webappauth.User{ID: id, FirstName: "User"}, e.clock.Now().Add(-time.Minute), url.Values{"query_id": {"AAQ"}})
}

type response struct {
	*httptest.ResponseRecorder
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	require.Equal(t, "application/json", r.Header().Get("Content-Type"), r.Body.String())
	require.NoError(t, json.Unmarshal(r.Body.Bytes(), v), r.Body.String())
}

func (r response) errorCode(t testing.TB) string {
	t.Helper()
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	r.json(t, &body)
	require.NotEmpty(t, body.Message)
	return body.Error
}

// request is one HTTP request to the app from 192.0.2.1, with the cookie
// and headers given.
func (e *env) request(t testing.TB, method, target, body string, cookie *http.Cookie, header map[string]string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.1:5555"
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return response{rec}
}

// session is a signed-in user's cookie and CSRF token.
type session struct {
	cookie *http.Cookie
	csrf   string
}

// signIn opens the app as user and returns their session.
func (e *env) signIn(t testing.TB, user int64) session {
	t.Helper()
	res := e.request(t, http.MethodPost, "/api/session", e.initData(user), nil, nil)
	require.Equal(t, http.StatusOK, res.Code, res.Body.String())
	var v webapp.SessionView
	res.json(t, &v)
	require.Equal(t, user, v.UserID)
	cookie := sessionCookie(t, res)
	require.NotNil(t, cookie, "a session cookie")
	return session{cookie: cookie, csrf: v.CSRFToken}
}

func sessionCookie(t testing.TB, res response) *http.Cookie {
	t.Helper()
	for _, c := range res.Result().Cookies() {
		if c.Name == webapp.SessionCookie {
			return c
		}
	}
	return nil
}

func (e *env) get(t testing.TB, s session, target string) response {
	t.Helper()
	return e.request(t, http.MethodGet, target, "", s.cookie, nil)
}

func (e *env) me(t testing.TB, s session) webapp.MeView {
	t.Helper()
	res := e.get(t, s, "/api/me")
	require.Equal(t, http.StatusOK, res.Code, res.Body.String())
	var v webapp.MeView
	res.json(t, &v)
	return v
}

func (e *env) order(t testing.TB, s session, body string) response {
	t.Helper()
	return e.request(t, http.MethodPost, "/api/orders", body, s.cookie, map[string]string{webapp.CSRFHeader: s.csrf})
}

func (e *env) requests(t testing.TB, route, code string) float64 {
	t.Helper()
	v, _ := obstest.Metric(t, e.reg, "vpnbot_webapp_requests_total", map[string]string{"route": route, "code": code})
	return v
}

func reencode(t testing.TB, signed string, edit func(url.Values)) string {
	t.Helper()
	f, err := url.ParseQuery(signed)
	require.NoError(t, err)
	edit(f)
	return f.Encode()
}

func TestOnlyValidInitDataGetsASession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, exported := obstest.Metric(t, e.reg, "vpnbot_webapp_requests_total", map[string]string{"route": "GET /api/me", "code": "200"})
	require.True(t, exported, "a route's series exist before its first request")
	e.user(t, 1, "en")
	now := e.clock.Now()
	valid := e.initData(1)

	res := e.request(t, http.MethodPost, "/api/session", valid, nil, nil)
	require.Equal(t, http.StatusOK, res.Code, res.Body.String())
	c := sessionCookie(t, res)
	require.NotNil(t, c)
	require.True(t, c.HttpOnly, "HttpOnly")
	require.True(t, c.Secure, "Secure")
	require.Equal(t, http.SameSiteNoneMode, c.SameSite, "framed by web.telegram.org: a cross-site iframe")
	require.True(t, c.Partitioned, "Partitioned")
	require.Equal(t, "/", c.Path)
	require.Equal(t, int(sessionTT/time.Second), c.MaxAge)

	for name, data := range map[string]string{
		"tampered user": reencode(t, valid, func(f url.Values) {
			f.Set("user", strings.Replace(f.Get("user"), `"id":1`, `"id":2`, 1))
		}),
		"another bot's token": webappauth.Sign(otherBot, webappauth.User{ID: 1}, now, nil),
		"expired auth_date":   webappauth.Sign(botToken, webappauth.User{ID: 1}, now.Add(-webappauth.DefaultMaxAge-time.Minute), nil),
		"missing hash":        reencode(t, valid, func(f url.Values) { f.Del("hash") }),
		"malformed":           "%%%",
		"Login Widget data":   webappauth.SignLogin(botToken, webappauth.User{ID: 1}, now),
		"empty":               "",
	} {
		res := e.request(t, http.MethodPost, "/api/session", data, nil, nil)
		require.Equal(t, http.StatusUnauthorized, res.Code, name)
		require.Equal(t, "unauthorized", res.errorCode(t), name)
		require.Nil(t, sessionCookie(t, res), "%s: no cookie", name)
	}
	require.Equal(t, 1.0, e.requests(t, "POST /api/session", "200"))
	require.Equal(t, 7.0, e.requests(t, "POST /api/session", "401"))
}

func TestLoginWidgetDataGetsASessionOnTheOpenWeb(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "en")
	now := e.clock.Now()
	res := e.request(t, http.MethodPost, "/api/session/login", webappauth.SignLogin(botToken, webappauth.User{ID: 1, FirstName: "A"}, now), nil, nil)
	require.Equal(t, http.StatusOK, res.Code, res.Body.String())
	s := session{cookie: sessionCookie(t, res)}
	require.NotNil(t, s.cookie)
	require.Equal(t, int64(1), e.me(t, s).User.ID)

	for name, data := range map[string]string{
		"Mini App initData":   e.initData(1),
		"another bot's token": webappauth.SignLogin(otherBot, webappauth.User{ID: 1}, now),
		"expired":             webappauth.SignLogin(botToken, webappauth.User{ID: 1}, now.Add(-25*time.Hour)),
	} {
		res := e.request(t, http.MethodPost, "/api/session/login", data, nil, nil)
		require.Equal(t, http.StatusUnauthorized, res.Code, name)
		require.Nil(t, sessionCookie(t, res), name)
	}
}

func TestAUserWhoNeverStartedTheBotIsToldToOpenItFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(t, http.MethodPost, "/api/session", e.initData(7), nil, nil)
	require.Equal(t, http.StatusForbidden, res.Code)
	require.Equal(t, "open_bot_first", res.errorCode(t))
	require.Nil(t, sessionCookie(t, res))

	e.user(t, 7, "en")
	e.signIn(t, 7) // the same initData's user, once they have started the bot
}

func TestABannedUserIsShutOutAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "en")
	s := e.signIn(t, 1)
	e.me(t, s)
	_, err := e.db.Pool.Exec(t.Context(), `UPDATE users SET banned_at = now() WHERE id = 1`)
	require.NoError(t, err)

	res := e.get(t, s, "/api/me")
	require.Equal(t, http.StatusForbidden, res.Code, "the session made before the ban")
	require.Equal(t, "banned", res.errorCode(t))
	res = e.get(t, s, "/api/plans")
	require.Equal(t, http.StatusForbidden, res.Code, "every route, not only the one that reads the ban itself")
	require.Equal(t, "banned", res.errorCode(t))
	res = e.request(t, http.MethodPost, "/api/session", e.initData(1), nil, nil)
	require.Equal(t, http.StatusForbidden, res.Code)
	require.Nil(t, sessionCookie(t, res))
}

func TestATamperedOrExpiredCookieIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "en")
	e.user(t, 2, "en")
	s := e.signIn(t, 1)
	e.me(t, s)

	payload, mac, ok := strings.Cut(s.cookie.Value, ".")
	require.True(t, ok)
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	require.NoError(t, err)
	require.Len(t, raw, 16, "a user id and an expiry")
	require.Equal(t, uint64(1), binary.BigEndian.Uint64(raw[:8]))
	// Bob's id with Alice's MAC.
	binary.BigEndian.PutUint64(raw[:8], 2)
	forged := &http.Cookie{Name: webapp.SessionCookie, Value: base64.RawURLEncoding.EncodeToString(raw) + "." + mac}
	// Alice's session made to last a year.
	binary.BigEndian.PutUint64(raw[:8], 1)
	binary.BigEndian.PutUint64(raw[8:], uint64(e.clock.Now().Add(365*24*time.Hour).Unix()))
	extended := &http.Cookie{Name: webapp.SessionCookie, Value: base64.RawURLEncoding.EncodeToString(raw) + "." + mac}

	other := newEnv(t, func(c *webapp.Config) { c.BotToken = otherBot })
	other.user(t, 1, "en")
	foreign := other.signIn(t, 1)

	for name, c := range map[string]*http.Cookie{
		"no cookie":                nil,
		"user id changed":          forged,
		"expiry changed":           extended,
		"MAC cut":                  {Name: webapp.SessionCookie, Value: payload + "." + mac[:20]},
		"garbage":                  {Name: webapp.SessionCookie, Value: "garbage"},
		"another deployment's key": foreign.cookie,
	} {
		res := e.request(t, http.MethodGet, "/api/me", "", c, nil)
		require.Equal(t, http.StatusUnauthorized, res.Code, name)
		require.Equal(t, "unauthorized", res.errorCode(t), name)
	}

	e.clock.Advance(sessionTT)
	res := e.get(t, s, "/api/me")
	require.Equal(t, http.StatusUnauthorized, res.Code, "a session past its TTL")
}

func TestASessionReadsOnlyItsOwnUsersData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "en")
	e.user(t, 2, "ru")
	e.trialWithKey(t, 1, "ss://alice@vpn.example.com:443/?outline=1")
	e.trialWithKey(t, 2, "ss://bob@vpn.example.com:443/?outline=1")
	alice, bob := e.signIn(t, 1), e.signIn(t, 2)
	bobsOrder := e.order(t, bob, `{"plan":"m1","provider":"cryptopay"}`)
	require.Equal(t, http.StatusOK, bobsOrder.Code, bobsOrder.Body.String())

	require.Equal(t, "ss://bob@vpn.example.com:443/?outline=1", e.me(t, bob).Subscription.Key, "the scenario: Bob has a key and an order")

	// Every way a client could name another user is ignored: the session
	// alone says whose data it is.
	for _, target := range []string{"/api/me?user_id=2", "/api/me?id=2&user=2"} {
		res := e.request(t, http.MethodGet, target, `{"user_id":2}`, alice.cookie, map[string]string{"X-User-Id": "2"})
		require.Equal(t, http.StatusOK, res.Code)
		var v webapp.MeView
		res.json(t, &v)
		require.Equal(t, int64(1), v.User.ID, target)
		require.Equal(t, "ss://alice@vpn.example.com:443/?outline=1", v.Subscription.Key, target)
	}
	res := e.request(t, http.MethodGet, "/api/payments?user_id=2", "", alice.cookie, map[string]string{"X-User-Id": "2"})
	require.Equal(t, http.StatusOK, res.Code)
	var pays webapp.PaymentsView
	res.json(t, &pays)
	require.Empty(t, pays.Orders, "Bob's order is not Alice's")

	res = e.request(t, http.MethodGet, "/api/invite?user_id=2", "", alice.cookie, nil)
	var inv webapp.InviteView
	res.json(t, &inv)
	require.Equal(t, "https://t.me/vpn_test_bot?start="+shop.InviteParam(1), inv.Link)

	// An order naming Bob in its body is Alice's.
	res = e.order(t, alice, `{"plan":"m1","provider":"cryptopay","user_id":2,"user":2}`)
	require.Equal(t, http.StatusOK, res.Code, res.Body.String())
	var created webapp.OrderCreated
	res.json(t, &created)
	got, err := e.shop.Invoice(t.Context(), created.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), got.UserID)

	res = e.get(t, bob, "/api/payments")
	var bobs webapp.PaymentsView
	res.json(t, &bobs)
	require.Len(t, bobs.Orders, 1, "Bob sees his order only")
	require.NotEqual(t, created.ID, bobs.Orders[0].ID)
}

func TestMeShowsATrialsKeyAndItsQRCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "ru")
	_, err := e.db.Pool.Exec(t.Context(),
		`INSERT INTO vpn_panels (name, kind, location, weight, capacity, position) VALUES ('outline', 'outline', 'Amsterdam', 1, 100, 0)`)
	require.NoError(t, err)
	sub := e.trialWithKey(t, 1, "ss://key1@vpn.example.com:443/?outline=1")
	_, err = e.db.Pool.Exec(t.Context(), `INSERT INTO ledger (op_key, user_id, kind, currency, amount, created_at) VALUES ('grant:t', 1, 'grant', 'USD', 250, now())`)
	require.NoError(t, err)
	s := e.signIn(t, 1)

	v := e.me(t, s)
	require.Equal(t, webapp.UserView{ID: 1, FirstName: "User1", Username: "user1", Language: "ru"}, v.User)
	require.NotNil(t, v.Subscription)
	require.Equal(t, webapp.SubscriptionView{Kind: shop.KindTrial, ExpiresAt: sub.ExpiresAt, Running: true,
		Location: "Amsterdam", Key: "ss://key1@vpn.example.com:443/?outline=1", KeyKind: webapp.KeyKindOutline}, *v.Subscription)
	require.Equal(t, []webapp.MoneyView{{Currency: "USD", Amount: 250, Text: "$2.50"}}, v.Balances)
	require.True(t, v.CryptoPay)

	res := e.get(t, s, "/api/key/qr")
	require.Equal(t, http.StatusOK, res.Code)
	require.Equal(t, "image/png", res.Header().Get("Content-Type"))
	require.Equal(t, "no-store", res.Header().Get("Cache-Control"))
	img, err := png.Decode(bytes.NewReader(res.Body.Bytes()))
	require.NoError(t, err)
	require.Equal(t, 512, img.Bounds().Dx())

	// Past its expiry the period shows no key, and no QR code.
	e.clock.Set(sub.ExpiresAt.Add(time.Second))
	s = e.signIn(t, 1)
	v = e.me(t, s)
	require.False(t, v.Subscription.Running)
	require.Empty(t, v.Subscription.Key)
	res = e.get(t, s, "/api/key/qr")
	require.Equal(t, http.StatusNotFound, res.Code)
	require.Equal(t, "no_key", res.errorCode(t))
}

// The setup guides are the bot's, for each kind of key in each language.
func TestTheSetupGuidesAreTheBots(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(t, http.MethodGet, "/api/setup", "", nil, nil)
	require.Equal(t, http.StatusOK, res.Code)
	var v webapp.SetupView
	res.json(t, &v)
	require.Equal(t, botui.TextsIn("ru").SetupGuides(true), v[webapp.KeyKindOutline]["ru"])
	require.Equal(t, botui.TextsIn("en").SetupGuides(false), v[webapp.KeyKindSubscription]["en"])
	require.Len(t, v, 2)
	require.Len(t, v[webapp.KeyKindSubscription], 2)
}

func TestATrialWithoutItsKeyYetIsPending(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "en")
	_, err := e.shop.StartTrial(t.Context(), 1)
	require.NoError(t, err)
	s := e.signIn(t, 1)
	v := e.me(t, s)
	require.True(t, v.Subscription.KeyPending)
	require.Empty(t, v.Subscription.Key)

	e.user(t, 2, "en")
	require.Nil(t, e.me(t, e.signIn(t, 2)).Subscription, "a user without a period")
}

func TestAWriteNeedsItsSessionsCSRFToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "en")
	e.user(t, 2, "en")
	alice, bob := e.signIn(t, 1), e.signIn(t, 2)
	body := `{"plan":"m1","provider":"cryptopay"}`
	for name, header := range map[string]map[string]string{
		"no token":             nil,
		"another user's token": {webapp.CSRFHeader: bob.csrf},
		"the cookie as token":  {webapp.CSRFHeader: alice.cookie.Value},
	} {
		res := e.request(t, http.MethodPost, "/api/orders", body, alice.cookie, header)
		require.Equal(t, http.StatusForbidden, res.Code, name)
		require.Equal(t, "csrf", res.errorCode(t), name)
	}
	require.Empty(t, e.cp.Requests(), "no refused write reached Crypto Pay")
	res := e.order(t, alice, body)
	require.Equal(t, http.StatusOK, res.Code, "the same write with the token: %s", res.Body.String())
}

func TestAnOrderIsTheBotsCryptoPayOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "ru")
	s := e.signIn(t, 1)

	first := e.order(t, s, `{"plan":"m1","provider":"cryptopay"}`)
	require.Equal(t, http.StatusOK, first.Code, first.Body.String())
	var a webapp.OrderCreated
	first.json(t, &a)
	require.NotEmpty(t, a.PayURL)
	second := e.order(t, s, `{"plan":"m1","provider":"cryptopay"}`)
	var b webapp.OrderCreated
	second.json(t, &b)
	require.Equal(t, a, b, "the order on offer, shown again")

	var creates []sandboxcp.Request
	for _, r := range e.cp.Requests() {
		if r.Method == "createInvoice" {
			creates = append(creates, r)
		}
	}
	require.Len(t, creates, 1, "one Crypto Pay invoice per order")
	require.Equal(t, shop.StarsPayload(a.ID), creates[0].Params["payload"], "the payload the payment-watcher reads")
	plan, err := e.shop.Plan(t.Context(), "m1")
	require.NoError(t, err)
	require.Equal(t, "VPN: "+plan.TitleRU, creates[0].Params["description"], "in the user's language")

	res := e.get(t, s, "/api/payments")
	var pays webapp.PaymentsView
	res.json(t, &pays)
	require.Len(t, pays.Orders, 1)
	require.Equal(t, a.ID, pays.Orders[0].ID)
	require.Equal(t, shop.InvoicePending, pays.Orders[0].Status)
	require.Equal(t, a.PayURL, pays.Orders[0].PayURL)

	// Paid (as the payment-watcher applies it), the order shows its time
	// and no link to pay.
	_, applied, err := e.shop.ApplyPayment(t.Context(), a.ID, "")
	require.NoError(t, err)
	require.True(t, applied)
	res = e.get(t, s, "/api/payments")
	var paid webapp.PaymentsView
	res.json(t, &paid)
	require.Equal(t, shop.InvoicePaid, paid.Orders[0].Status)
	require.NotNil(t, paid.Orders[0].PaidAt)
	require.Empty(t, paid.Orders[0].PayURL)
}

func TestOrdersTheShopCannotTakeAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "en")
	s := e.signIn(t, 1)
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{"plan":"nope","provider":"cryptopay"}`, http.StatusNotFound, "unknown_plan"},
		{`{"plan":"m1","provider":"stars"}`, http.StatusBadRequest, "unsupported_provider"},
		{`{"plan":"m1"}`, http.StatusBadRequest, "unsupported_provider"},
		{`{"provider":"cryptopay"}`, http.StatusBadRequest, "bad_request"},
		{`not json`, http.StatusBadRequest, "bad_request"},
		{`{"plan":"` + strings.Repeat("m", 2000) + `","provider":"cryptopay"}`, http.StatusBadRequest, "bad_request"},
	} {
		res := e.order(t, s, c.body)
		require.Equal(t, c.code, res.Code, c.body)
		require.Equal(t, c.want, res.errorCode(t), c.body)
	}
	require.Empty(t, e.cp.Requests())

	e.cp.Inject(sandboxcp.Fault{Method: "createInvoice", Status: http.StatusInternalServerError})
	res := e.order(t, s, `{"plan":"m1","provider":"cryptopay"}`)
	require.Equal(t, http.StatusServiceUnavailable, res.Code)
	require.Equal(t, "payments_down", res.errorCode(t))
	require.Len(t, e.logs.Events(t, webapp.EventCryptoPayDown), 1)
	e.cp.ClearFaults()
	res = e.order(t, s, `{"plan":"m1","provider":"cryptopay"}`)
	require.Equal(t, http.StatusOK, res.Code, "the next request makes the invoice: %s", res.Body.String())
}

func TestWithoutCryptoPayNothingIsOrdered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *webapp.Config) { c.CryptoPay = nil })
	e.user(t, 1, "en")
	s := e.signIn(t, 1)
	require.False(t, e.me(t, s).CryptoPay)
	res := e.order(t, s, `{"plan":"m1","provider":"cryptopay"}`)
	require.Equal(t, http.StatusBadRequest, res.Code)
	require.Equal(t, "unsupported_provider", res.errorCode(t))
}

func TestPlansAreThoseOnOffer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "en")
	want, err := e.shop.Plans(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, want)
	res := e.get(t, e.signIn(t, 1), "/api/plans")
	var v webapp.PlansView
	res.json(t, &v)
	require.Len(t, v.Plans, len(want))
	for i, p := range want {
		require.Equal(t, webapp.PlanView{ID: p.ID, TitleEN: p.TitleEN, TitleRU: p.TitleRU,
			Seconds: int64(p.Duration / time.Second), PriceUSD: p.PriceUSD, PriceStars: p.PriceStars}, v.Plans[i])
	}
	require.Nil(t, v.Discount)
}

func TestRequestsAreLimitedPerAddressAndPerUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *webapp.Config) { c.IPRate, c.IPBurst, c.UserRate, c.UserBurst = 0.001, 3, 0.001, 5 })
	e.user(t, 1, "en")
	s := e.signIn(t, 1) // the address's first request
	e.me(t, s)
	e.me(t, s)
	res := e.get(t, s, "/api/me")
	require.Equal(t, http.StatusTooManyRequests, res.Code, "the address's fourth request")
	require.Equal(t, "rate_limited", res.errorCode(t))
	require.NotEmpty(t, res.Header().Get("Retry-After"))

	// From other addresses, the user's own limit still holds: two used above.
	codes := []int{}
	for i := range 4 {
		req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		req.RemoteAddr = "198.51.100." + strconv.Itoa(i+1) + ":443"
		req.AddCookie(s.cookie)
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
	}
	require.Equal(t, []int{http.StatusOK, http.StatusOK, http.StatusOK, http.StatusTooManyRequests}, codes)
}

func TestTheClientIPHeaderNamesTheAddressBehindAProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *webapp.Config) { c.IPRate, c.IPBurst, c.ClientIPHeader = 0.001, 1, "X-Real-IP" })
	var codes []int
	for _, ip := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.1"} {
		res := e.request(t, http.MethodPost, "/api/session", "", nil, map[string]string{"X-Real-IP": ip})
		codes = append(codes, res.Code)
	}
	require.Equal(t, []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests}, codes,
		"one proxy address, each client limited on its own")
}

func TestTooLargeABodyIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(t, http.MethodPost, "/api/session", strings.Repeat("a", webappauth.MaxLength+1), nil, nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, res.Code)
	require.Equal(t, "bad_request", res.errorCode(t))
}

func TestThePageRunsOnlyItsOwnScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(t, http.MethodGet, "/", "", nil, nil)
	require.Equal(t, http.StatusOK, res.Code)
	require.Contains(t, res.Header().Get("Content-Type"), "text/html")
	csp := res.Header().Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'self'")
	require.Contains(t, csp, "script-src 'self';")
	require.NotContains(t, csp, "unsafe")
	require.True(t, strings.HasSuffix(csp, "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org"),
		"only Telegram frames the app: %s", csp)
	require.Equal(t, "nosniff", res.Header().Get("X-Content-Type-Options"))
	framed := newEnv(t, func(c *webapp.Config) { c.FrameAncestors = []string{"http://127.0.0.1:*"} })
	csp = framed.request(t, http.MethodGet, "/", "", nil, nil).Header().Get("Content-Security-Policy")
	require.True(t, strings.HasSuffix(csp, "https://*.telegram.org http://127.0.0.1:*"), "and the origins configured: %s", csp)

	page := res.Body.String()
	require.Contains(t, page, `<script src="/static/app.js" defer></script>`)
	require.Equal(t, 1, strings.Count(page, "<script"), "no inline script")
	require.NotContains(t, page, "style=", "no inline style")
	require.NotContains(t, page, " on", "no inline event handler")

	for path, typ := range map[string]string{"/static/app.js": "javascript", "/static/app.css": "text/css"} {
		res := e.request(t, http.MethodGet, path, "", nil, nil)
		require.Equal(t, http.StatusOK, res.Code, path)
		require.Contains(t, res.Header().Get("Content-Type"), typ, path)
		require.NotEmpty(t, res.Header().Get("Content-Security-Policy"), path)
	}
	for _, c := range []struct{ method, path string }{{http.MethodGet, "/api/nothing"}, {http.MethodGet, "/api/orders"}, {http.MethodDelete, "/api/me"}} {
		res := e.request(t, c.method, c.path, "", nil, nil)
		require.Equal(t, http.StatusNotFound, res.Code, c.path)
		require.Equal(t, "not_found", res.errorCode(t), "%s %s", c.method, c.path)
	}
	res = e.request(t, http.MethodGet, "/static/", "", nil, nil)
	require.Equal(t, http.StatusNotFound, res.Code, "no listing of the files")
	res = e.request(t, http.MethodGet, "/api/me", "", nil, nil)
	require.Equal(t, http.StatusUnauthorized, res.Code)
	require.Equal(t, "no-store", res.Header().Get("Cache-Control"))
}

// A session is whoever's initData made it: initData posted beside another
// user's cookie neither becomes nor changes that user's session.
func TestASessionIsTheUserOfTheInitDataThatMadeIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(t, 1, "en")
	e.user(t, 2, "en")
	bob := e.signIn(t, 2)
	res := e.request(t, http.MethodPost, "/api/session", e.initData(1), bob.cookie, nil)
	require.Equal(t, http.StatusOK, res.Code)
	var v webapp.SessionView
	res.json(t, &v)
	require.Equal(t, int64(1), v.UserID)
	alice := session{cookie: sessionCookie(t, res), csrf: v.CSRFToken}
	require.Equal(t, int64(1), e.me(t, alice).User.ID)
	require.Equal(t, int64(2), e.me(t, bob).User.ID, "Bob's session is still Bob's")
	require.NotEqual(t, bob.csrf, alice.csrf)
}

// On the open web the page sends the browser to the Login Widget, which
// comes back to /login/done; a page reloaded there gets its CSRF token
// from its cookie.
func TestTheOpenWebSignsInWithTheLoginWidget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := httptest.NewRequest(http.MethodGet, "https://app.example.com/login", nil)
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	page := rec.Body.String()
	require.Contains(t, page, `<script async src="https://telegram.org/js/telegram-widget.js?22" data-telegram-login="vpn_test_bot" `)
	require.Contains(t, page, `data-auth-url="https://app.example.com/login/done"`)
	require.Equal(t, 1, strings.Count(page, "<script"), "Telegram's widget only")
	csp := rec.Header().Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src https://telegram.org;")
	require.NotContains(t, csp, "'self'; script-src 'self'", "not the app's policy")
	require.NotContains(t, csp, "unsafe")

	res := e.request(t, http.MethodGet, "/login/done?id=1&hash=00", "", nil, nil)
	require.Equal(t, http.StatusOK, res.Code)
	require.Contains(t, res.Body.String(), `<script src="/static/app.js" defer></script>`, "the app's page, which posts the data")
	require.Contains(t, res.Header().Get("Content-Security-Policy"), "script-src 'self';")

	e.user(t, 1, "en")
	res = e.request(t, http.MethodPost, "/api/session/login", webappauth.SignLogin(botToken, webappauth.User{ID: 1}, e.clock.Now()), nil, nil)
	require.Equal(t, http.StatusOK, res.Code)
	var made webapp.SessionView
	res.json(t, &made)
	cookie := sessionCookie(t, res)

	res = e.request(t, http.MethodGet, "/api/session", "", cookie, nil)
	require.Equal(t, http.StatusOK, res.Code)
	var again webapp.SessionView
	res.json(t, &again)
	require.Equal(t, made, again, "the same token, user and end")
	res = e.request(t, http.MethodGet, "/api/session", "", nil, nil)
	require.Equal(t, http.StatusUnauthorized, res.Code)

	without := newEnv(t, func(c *webapp.Config) { c.BotUsername = "" })
	res = without.request(t, http.MethodGet, "/login", "", nil, nil)
	require.Equal(t, http.StatusNotFound, res.Code, "no widget without the bot's username")
}
