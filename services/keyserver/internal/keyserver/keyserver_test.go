package keyserver_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/clocktest"
	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/ssconf"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
	"github.com/vpnbot/vpnbot/services/keyserver/internal/keyserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// grace is how long after its end a period is revoked in these tests.
const grace = time.Hour

// env is a key server over a fresh schema, beside the shop that records
// what it answers and a sandbox Outline panel the shop's accounts are on.
type env struct {
	db      *pgdbtest.DB
	shop    *shop.Shop
	clock   *clocktest.Clock
	sb      *vpntest.Sandbox
	fleet   *vpn.Fleet
	handler http.Handler
	reg     *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgdbtest.New(t)
	c := clocktest.New(time.Now().UTC().Truncate(time.Second))
	reg := prometheus.NewRegistry()
	ks, err := keyserver.New(db.Pool, obstest.NewLogger(&obstest.LogBuffer{}), reg)
	require.NoError(t, err)
	sb := vpntest.StartSandbox(t, vpn.KindOutline)
	return &env{
		db: db,
		shop: shop.New(db.Pool, shop.Config{NowFunc: c.Now,
			DynamicKeys: ssconf.Settings{URL: "https://keys.example.com", Label: "VPN"}}),
		clock:   c,
		sb:      sb,
		fleet:   sb.Fleet(t),
		handler: ks.Handler(),
		reg:     reg,
	}
}

// trial records user and activates their trial, returning the period and
// the link delivered to them.
func (e *env) trial(t *testing.T, user int64) (shop.Subscription, string) {
	t.Helper()
	_, err := e.db.Pool.Exec(t.Context(), `INSERT INTO users (id, chat_id) VALUES ($1, $1)`, user)
	require.NoError(t, err)
	sub, err := e.shop.StartTrial(t.Context(), user)
	require.NoError(t, err)
	return sub, e.activate(t, sub.ID)
}

// activate activates period id and returns the link delivered for it.
func (e *env) activate(t *testing.T, id int64) string {
	t.Helper()
	acc, err := e.shop.Activate(t.Context(), id, e.fleet)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(acc.URL, "ssconf://keys.example.com/k/"), "a dynamic key: %s", acc.URL)
	return acc.URL
}

// fetch asks the key server for link as an Outline client does: a GET of
// the https:// URL the ssconf:// one names.
func (e *env) fetch(t *testing.T, link string) *httptest.ResponseRecorder {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	u.Scheme, u.Fragment = "https", ""
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u.String(), nil))
	return rec
}

// requireServed asks for link and checks that the answer is a configuration
// an Outline client connects with, which it returns.
func (e *env) requireServed(t *testing.T, link string) ssconf.Config {
	t.Helper()
	rec := e.fetch(t, link)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	var fields map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &fields))
	require.ElementsMatch(t, []string{"server", "server_port", "password", "method"}, keys(fields), "Outline's JSON fields")
	var cfg ssconf.Config
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &cfg))
	require.True(t, e.sb.LinkWorks(staticKey(cfg)), "the panel takes the configuration served: %+v", cfg)
	return cfg
}

// requireNotFound asks for link and checks that it is answered 404.
func (e *env) requireNotFound(t *testing.T, link, why string) {
	t.Helper()
	rec := e.fetch(t, link)
	require.Equal(t, http.StatusNotFound, rec.Code, why)
	require.NotContains(t, rec.Body.String(), "password", why)
}

// staticKey is the ss:// key of cfg, as the panel hands them out.
func staticKey(cfg ssconf.Config) string {
	info := base64.RawURLEncoding.EncodeToString([]byte(cfg.Method + ":" + cfg.Password))
	return "ss://" + info + "@" + cfg.Server + ":" + strconv.Itoa(cfg.ServerPort) + "/?outline=1"
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (e *env) requests(t *testing.T, outcome string) float64 {
	t.Helper()
	v, _ := obstest.Metric(t, e.reg, "vpnbot_keyserver_requests_total", map[string]string{"outcome": outcome})
	return v
}

func TestAKnownTokenIsAnsweredWithTheAccountsKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, link := e.trial(t, 1)
	_, other := e.trial(t, 2)
	mine, theirs := e.requireServed(t, link), e.requireServed(t, other)
	require.NotEqual(t, mine.Password, theirs.Password, "each link answers its own account's key")
	require.Equal(t, 2.0, e.requests(t, "served"))
}

func TestAnUnknownTokenIsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, link := e.trial(t, 1)
	e.requireServed(t, link) // the scenario has a token that works
	e.requireNotFound(t, "ssconf://keys.example.com/k/0123456789abcdef0123456789abcdef#VPN", "a token no account has")
	e.requireNotFound(t, "ssconf://keys.example.com/k/"+strings.Repeat("a", 100), "a token longer than any")
	e.requireNotFound(t, strings.Replace(link, "/k/", "/x/", 1), "another path")
	require.Equal(t, 2.0, e.requests(t, "unknown"), "each token counted; the other path is no key request")
	require.Zero(t, e.requests(t, "error"))
}

// A new link (the old one leaked) stops the old link at once; the new one
// answers the account's new key.
func TestARotatedLinkIsNotFoundAndTheNewOneAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub, old := e.trial(t, 1)
	before := e.requireServed(t, old)
	found, err := e.shop.RequestNewLink(t.Context(), 1)
	require.NoError(t, err)
	require.True(t, found)
	_, err = e.shop.Rotate(t.Context(), 1, e.fleet)
	require.NoError(t, err)
	got, err := e.shop.Subscription(t.Context(), sub.ID)
	require.NoError(t, err)
	link := got.Access.URL
	require.NotEqual(t, old, link)

	e.requireNotFound(t, old, "the old link after a new one")
	after := e.requireServed(t, link)
	require.NotEqual(t, before.Password, after.Password, "the account's new key")
	require.False(t, e.sb.LinkWorks(staticKey(before)), "the old key stopped on the panel too")
}

// A user whose period was revoked gets no key; when they buy again, the
// same link answers again.
func TestADisabledAccountIsNotFoundUntilItsUserBuysAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub, link := e.trial(t, 1)
	e.requireServed(t, link)

	e.clock.Advance(sub.ExpiresAt.Sub(e.clock.Now()) + grace)
	due, err := e.shop.ExpiredUnrevoked(t.Context(), grace, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.NoError(t, e.shop.Revoke(t.Context(), sub.ID, e.fleet))
	e.requireNotFound(t, link, "a revoked period's link")

	inv, err := e.shop.CreateOrder(t.Context(), 1, "m1", shop.ProviderStars)
	require.NoError(t, err)
	next, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, link, e.activate(t, next.ID), "the re-purchase keeps the link")
	e.requireServed(t, link)
}

func TestABannedUsersLinkIsNotFoundUntilTheUnban(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, link := e.trial(t, 1)
	e.requireServed(t, link)
	_, err := e.db.Pool.Exec(t.Context(), `UPDATE users SET banned_at = now() WHERE id = 1`)
	require.NoError(t, err)
	e.requireNotFound(t, link, "a banned user's link, before activation suspends the account")
	_, err = e.db.Pool.Exec(t.Context(), `UPDATE users SET banned_at = NULL WHERE id = 1`)
	require.NoError(t, err)
	e.requireServed(t, link)
}

func TestADatabaseFailureIsAnErrorNotA404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, link := e.trial(t, 1)
	var logs obstest.LogBuffer
	ks, err := keyserver.New(e.db.Pool, obstest.NewLogger(&logs), nil)
	require.NoError(t, err)
	e.handler = ks.Handler()
	e.requireServed(t, link)

	_, err = e.db.Pool.Exec(t.Context(), `ALTER TABLE vpn_accounts RENAME TO vpn_accounts_gone`)
	require.NoError(t, err)
	rec := e.fetch(t, link)
	require.Equal(t, http.StatusInternalServerError, rec.Code, "a client retries; a 404 would say the link is dead")
	require.Len(t, logs.Events(t, keyserver.EventKeyFailed), 1)
	require.NotContains(t, logs.String(), strings.TrimPrefix(link, "ssconf://keys.example.com/k/")[:32], "the token is a credential")
}

// Under the keyserver's own role, as in production: its read-only grants
// are enough to serve a key.
func TestAKeyIsServedUnderTheServicesRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, link := e.trial(t, 1)
	ks, err := keyserver.New(e.db.As(t, "keyserver"), obstest.NewLogger(&obstest.LogBuffer{}), nil)
	require.NoError(t, err)
	e.handler = ks.Handler()
	e.requireServed(t, link)
}
