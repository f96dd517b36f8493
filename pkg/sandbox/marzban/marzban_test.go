package marzban_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/clocktest"
	"github.com/vpnbot/vpnbot/pkg/sandbox/marzban"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	admin    = "admin"
	password = "test-password"
)

// env is a started sandbox, an HTTP client of the test's own and a token.
type env struct {
	t      *testing.T
	s      *marzban.Server
	client *http.Client
	token  string
}

func start(t *testing.T, cfg marzban.Config) *env {
	t.Helper()
	return startAt(t, cfg, "127.0.0.1:0")
}

func startAt(t *testing.T, cfg marzban.Config, addr string) *env {
	t.Helper()
	cfg.Username, cfg.Password = admin, password
	s := marzban.New(cfg)
	require.NoError(t, s.Start(addr))
	tr := &http.Transport{}
	t.Cleanup(func() {
		s.Close()
		tr.CloseIdleConnections()
	})
	e := &env{t: t, s: s, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	status, body := e.login(admin, password)
	require.Equal(t, http.StatusOK, status, body)
	e.token = decode[struct {
		AccessToken string `json:"access_token"`
	}](t, body).AccessToken
	return e
}

func (e *env) login(username, pw string) (int, string) {
	e.t.Helper()
	form := url.Values{"username": {username}, "password": {pw}}
	resp, err := e.client.PostForm(e.s.URL()+"/api/admin/token", form)
	require.NoError(e.t, err)
	return read(e.t, resp)
}

func read(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(data)
}

// call sends a JSON request with the given bearer token ("" for none).
func (e *env) call(bearer, method, path, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.s.URL()+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	return read(e.t, resp)
}

func (e *env) api(method, path, body string) (int, string) {
	e.t.Helper()
	return e.call(e.token, method, path, body)
}

func decode[T any](t *testing.T, raw string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(raw), &v), raw)
	return v
}

// user is the part of a user answer the tests read.
type user struct {
	Username        string                       `json:"username"`
	Status          string                       `json:"status"`
	Expire          *int64                       `json:"expire"`
	DataLimit       *int64                       `json:"data_limit"`
	SubscriptionURL string                       `json:"subscription_url"`
	Proxies         map[string]map[string]string `json:"proxies"`
	Inbounds        map[string][]string          `json:"inbounds"`
	Links           []string                     `json:"links"`
	CreatedAt       string                       `json:"created_at"`
}

type failure struct {
	Detail any `json:"detail"`
}

func (e *env) create(body string) user {
	e.t.Helper()
	status, resp := e.api(http.MethodPost, "/api/user", body)
	require.Equal(e.t, http.StatusOK, status, resp)
	return decode[user](e.t, resp)
}

// sub fetches a subscription URL and returns the status and the links.
func (e *env) sub(subURL string) (int, []string) {
	e.t.Helper()
	if strings.HasPrefix(subURL, "/") {
		subURL = e.s.URL() + subURL
	}
	resp, err := e.client.Get(subURL)
	require.NoError(e.t, err)
	status, body := read(e.t, resp)
	if status != http.StatusOK {
		return status, nil
	}
	raw, err := base64.StdEncoding.DecodeString(body)
	require.NoError(e.t, err)
	return status, strings.Fields(string(raw))
}

// works is whether the subscription answers links the core lets through.
func (e *env) works(subURL string) bool {
	e.t.Helper()
	status, links := e.sub(subURL)
	if status != http.StatusOK || len(links) == 0 {
		return false
	}
	for _, l := range links {
		if !e.s.Connects(l) {
			return false
		}
	}
	return true
}

func TestLoginAndTokens(t *testing.T) {
	t.Parallel()
	c := clocktest.New(time.Now())
	e := start(t, marzban.Config{Now: c.Now, TokenLifetime: time.Hour})

	status, body := e.login(admin, "nope")
	require.Equal(t, http.StatusUnauthorized, status)
	require.JSONEq(t, `{"detail":"Incorrect username or password"}`, body)
	status, body = e.call("", http.MethodGet, "/api/users", "")
	require.Equal(t, http.StatusUnauthorized, status)
	require.JSONEq(t, `{"detail":"Not authenticated"}`, body)
	status, body = e.call(e.token+"x", http.MethodGet, "/api/users", "")
	require.Equal(t, http.StatusUnauthorized, status)
	require.JSONEq(t, `{"detail":"Could not validate credentials"}`, body)
	require.Equal(t, 3, strings.Count(e.token, ".")+1, "a JWT")

	status, _ = e.api(http.MethodGet, "/api/users", "")
	require.Equal(t, http.StatusOK, status)
	c.Set(c.Now().Add(time.Hour))
	status, body = e.api(http.MethodGet, "/api/users", "")
	require.Equal(t, http.StatusUnauthorized, status, "the token lived its hour")
	require.JSONEq(t, `{"detail":"Could not validate credentials"}`, body)

	status, body = e.api(http.MethodGet, "/api/nodes", "")
	require.Equal(t, http.StatusNotFound, status)
	require.JSONEq(t, `{"detail":"Not Found"}`, body)
}

func TestCreateAnswersThePanelsUser(t *testing.T) {
	t.Parallel()
	e := start(t, marzban.Config{})
	u := e.create(`{"username":"alice_1","proxies":{"vless":{},"trojan":{"password":"pw"}},` +
		`"inbounds":{"vless":["VLESS TCP REALITY"]},"expire":1900000000,"data_limit":0,"note":"hi"}`)
	require.Equal(t, "alice_1", u.Username)
	require.Equal(t, marzban.StatusActive, u.Status)
	require.Equal(t, int64(1900000000), *u.Expire)
	require.Nil(t, u.DataLimit, "0 is unlimited, answered as null")
	require.Len(t, u.Proxies["vless"]["id"], 36, "an id made up by the panel")
	require.Equal(t, "pw", u.Proxies["trojan"]["password"])
	require.Equal(t, []string{"VLESS TCP REALITY"}, u.Inbounds["vless"])
	require.Equal(t, []string{"Trojan Websocket TLS"}, u.Inbounds["trojan"])
	require.Len(t, u.Links, 2)
	require.True(t, strings.HasPrefix(u.SubscriptionURL, "/sub/"), "relative by default: %s", u.SubscriptionURL)
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$`, u.CreatedAt)

	status, body := e.api(http.MethodGet, "/api/user/alice_1", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, u.Proxies, decode[user](t, body).Proxies)
	got, ok := e.s.User("alice_1")
	require.True(t, ok)
	require.Equal(t, "hi", got.Note)

	status, body = e.api(http.MethodPost, "/api/user", `{"username":"alice_1","proxies":{"vless":{}}}`)
	require.Equal(t, http.StatusConflict, status)
	require.JSONEq(t, `{"detail":"User already exists"}`, body)
	require.Len(t, e.s.Users(), 1)
}

func TestCreateValidatesLikeThePanel(t *testing.T) {
	t.Parallel()
	e := start(t, marzban.Config{Inbounds: []marzban.Inbound{{Tag: "only vless", Protocol: marzban.VLESS, Port: 443}}})
	for name, tc := range map[string]struct {
		body, field string
	}{
		"too short":        {`{"username":"al","proxies":{"vless":{}}}`, "username"},
		"too long":         {`{"username":"` + strings.Repeat("a", 33) + `","proxies":{"vless":{}}}`, "username"},
		"space":            {`{"username":"al ice","proxies":{"vless":{}}}`, "username"},
		"no proxy":         {`{"username":"alice","proxies":{}}`, "proxies"},
		"unknown protocol": {`{"username":"alice","proxies":{"wireguard":{}}}`, "proxies"},
		"unknown inbound":  {`{"username":"alice","proxies":{"vless":{}},"inbounds":{"vless":["nope"]}}`, "inbounds"},
		"negative limit":   {`{"username":"alice","proxies":{"vless":{}},"data_limit":-1}`, "data_limit"},
		"disabled status":  {`{"username":"alice","proxies":{"vless":{}},"status":"disabled"}`, "status"},
	} {
		status, body := e.api(http.MethodPost, "/api/user", tc.body)
		require.Equal(t, http.StatusUnprocessableEntity, status, name)
		detail, ok := decode[failure](t, body).Detail.(map[string]any)
		require.True(t, ok, "%s: %s", name, body)
		require.Contains(t, detail, tc.field, name)
	}
	status, body := e.api(http.MethodPost, "/api/user", `{"username":"alice","proxies":{"vmess":{}}}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.JSONEq(t, `{"detail":"Protocol vmess is disabled on your server"}`, body)
	require.Empty(t, e.s.Users())
	e.create(`{"username":"` + strings.Repeat("a", 32) + `","proxies":{"vless":{}}}`)
}

func TestModifyMovesTheStatusAsThePanel(t *testing.T) {
	t.Parallel()
	e := start(t, marzban.Config{})
	past, future := time.Now().Add(-time.Hour).Unix(), time.Now().Add(time.Hour).Unix()
	u := e.create(`{"username":"bob","proxies":{"vless":{}},"data_limit":100}`)
	id := u.Proxies["vless"]["id"]
	put := func(body string) user {
		t.Helper()
		status, resp := e.api(http.MethodPut, "/api/user/bob", body)
		require.Equal(t, http.StatusOK, status, resp)
		return decode[user](t, resp)
	}

	require.True(t, e.s.DriftUsage("bob", 150))
	got, _ := e.s.User("bob")
	require.Equal(t, marzban.StatusLimited, got.Status, "the review job saw the usage")
	require.Equal(t, marzban.StatusActive, put(`{"data_limit":200}`).Status, "a limit above the usage")
	require.Equal(t, marzban.StatusExpired, put(`{"expire":`+itoa(past)+`}`).Status)
	require.Equal(t, marzban.StatusActive, put(`{"expire":`+itoa(future)+`}`).Status)
	require.Equal(t, marzban.StatusDisabled, put(`{"status":"disabled","expire":`+itoa(future)+`}`).Status)
	require.Equal(t, marzban.StatusDisabled, put(`{"expire":0,"data_limit":0}`).Status, "a disabled user stays disabled")
	u = put(`{"status":"active","expire":` + itoa(future) + `,"data_limit":100}`)
	require.Equal(t, marzban.StatusLimited, u.Status, "active by status, limited by the usage over the limit")
	require.Equal(t, id, u.Proxies["vless"]["id"], "no proxies sent, none changed")

	status, resp := e.api(http.MethodPost, "/api/user/bob/reset", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, marzban.StatusActive, decode[user](t, resp).Status)

	require.NotEqual(t, id, put(`{"proxies":{"vless":{}}}`).Proxies["vless"]["id"],
		"proxies sent without credentials get new ones, as on the panel")
	status, resp = e.api(http.MethodPut, "/api/user/bob", `{"status":"expired"}`)
	require.Equal(t, http.StatusUnprocessableEntity, status, resp)

	status, resp = e.api(http.MethodDelete, "/api/user/bob", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"detail":"User successfully deleted"}`, resp)
	for _, req := range [][2]string{
		{http.MethodGet, "/api/user/bob"}, {http.MethodPut, "/api/user/bob"}, {http.MethodDelete, "/api/user/bob"},
		{http.MethodPost, "/api/user/bob/revoke_sub"}, {http.MethodPost, "/api/user/bob/reset"},
	} {
		status, resp = e.api(req[0], req[1], `{}`)
		require.Equal(t, http.StatusNotFound, status, req)
		require.JSONEq(t, `{"detail":"User not found"}`, resp, req)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestSubscriptionTokens(t *testing.T) {
	t.Parallel()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clocktest.New(base.Add(100 * time.Millisecond))
	e := start(t, marzban.Config{Now: c.Now})
	u := e.create(`{"username":"carol","proxies":{"vless":{},"shadowsocks":{},"vmess":{},"trojan":{}}}`)
	first := u.SubscriptionURL
	require.True(t, e.works(first))
	status, links := e.sub(first)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, links, 4, "one link per inbound of each proxy")

	c.Set(base.Add(1500 * time.Millisecond))
	status, body := e.api(http.MethodGet, "/api/user/carol", "")
	require.Equal(t, http.StatusOK, status)
	second := decode[user](t, body).SubscriptionURL
	require.NotEqual(t, first, second, "every answer issues a token of its second")
	require.True(t, e.works(first) && e.works(second), "and all of them work")

	// Revoked within the second the second token names: it survives, as on
	// the panel; the first, of an earlier second, does not.
	status, body = e.api(http.MethodPost, "/api/user/carol/revoke_sub", "")
	require.Equal(t, http.StatusOK, status)
	revoked := decode[user](t, body)
	require.NotEqual(t, u.Proxies, revoked.Proxies, "new credentials")
	status, _ = e.sub(first)
	require.Equal(t, http.StatusNotFound, status)
	status, _ = e.sub(second)
	require.Equal(t, http.StatusOK, status, "a token of the revocation's second survives it")
	require.True(t, e.works(revoked.SubscriptionURL))
	for _, l := range links {
		require.False(t, e.s.Connects(l), "revoked credentials: %s", l)
	}

	require.True(t, e.s.DriftDisable("carol"))
	status, links = e.sub(revoked.SubscriptionURL)
	require.Equal(t, http.StatusOK, status, "the panel serves a disabled user's subscription")
	require.False(t, e.s.Connects(links[0]), "but its core refuses the user")
	got, _ := e.s.User("carol")
	require.False(t, got.SubUpdatedAt.IsZero())

	require.True(t, e.s.DriftDelete("carol"))
	require.False(t, e.s.DriftDelete("carol"))
	status, _ = e.sub(revoked.SubscriptionURL)
	require.Equal(t, http.StatusNotFound, status)
	status, _ = e.sub("/sub/" + strings.Repeat("A", 30))
	require.Equal(t, http.StatusNotFound, status, "a token not signed by the panel")
	require.False(t, e.s.Connects("vless://nothing"))
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	e := start(t, marzban.Config{})
	for _, name := range []string{"bot_u3", "bot_u1", "other_1", "bot_u2"} {
		e.create(`{"username":"` + name + `","proxies":{"vless":{}}}`)
	}
	type page struct {
		Users []user `json:"users"`
		Total int    `json:"total"`
	}
	list := func(q string) page {
		t.Helper()
		status, body := e.api(http.MethodGet, "/api/users?"+q, "")
		require.Equal(t, http.StatusOK, status, body)
		return decode[page](t, body)
	}
	names := func(p page) []string {
		var out []string
		for _, u := range p.Users {
			out = append(out, u.Username)
		}
		return out
	}
	require.Equal(t, []string{"bot_u3", "bot_u1", "other_1", "bot_u2"}, names(list("")), "creation order")
	p := list("search=BOT_U&sort=username&offset=0&limit=2")
	require.Equal(t, 3, p.Total)
	require.Equal(t, []string{"bot_u1", "bot_u2"}, names(p))
	require.Equal(t, []string{"bot_u3"}, names(list("search=bot_u&sort=username&offset=2&limit=2")))
	require.Equal(t, []string{"bot_u3", "bot_u2", "bot_u1"}, names(list("search=bot_u&sort=-username")))

	status, body := e.api(http.MethodGet, "/api/users?sort=colour", "")
	require.Equal(t, http.StatusBadRequest, status)
	require.JSONEq(t, `{"detail":"\"colour\" is not a valid sort option"}`, body)
}

func TestFaults(t *testing.T) {
	t.Parallel()
	e := start(t, marzban.Config{})
	e.s.Inject(marzban.Fault{Route: "POST /api/user", Status: http.StatusInternalServerError, Times: 1})
	status, body := e.api(http.MethodPost, "/api/user", `{"username":"dave","proxies":{"vless":{}}}`)
	require.Equal(t, http.StatusInternalServerError, status)
	require.JSONEq(t, `{"detail":"Internal Server Error"}`, body)
	require.Empty(t, e.s.Users(), "a failed call does nothing")
	e.s.Inject(marzban.Fault{Route: "POST /api/user", ServeFirst: true, Status: http.StatusBadGateway, Times: 1})
	status, _ = e.api(http.MethodPost, "/api/user", `{"username":"dave","proxies":{"vless":{}}}`)
	require.Equal(t, http.StatusBadGateway, status)
	require.Len(t, e.s.Users(), 1, "served before the reply was lost")
	require.Equal(t, 2, e.s.Requests("POST /api/user"))

	status, _ = e.call("", http.MethodPost, "/sandbox/faults", `{"route":"GET /api/users","status":503,"times":1}`)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = e.api(http.MethodGet, "/api/users", "")
	require.Equal(t, http.StatusServiceUnavailable, status)
	status, body = e.call("", http.MethodGet, "/sandbox/users", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "dave", decode[[]marzban.User](t, body)[0].Username)

	e.s.Inject(marzban.Fault{Hang: true})
	done := make(chan int, 1)
	go func() {
		status, _ := e.api(http.MethodGet, "/api/users", "")
		done <- status
	}()
	require.Eventually(t, func() bool { return e.s.Requests("GET /api/users") == 2 }, 5*time.Second, 5*time.Millisecond)
	e.s.ClearFaults()
	select {
	case status := <-done:
		require.Equal(t, http.StatusOK, status)
	case <-time.After(5 * time.Second):
		t.Fatal("hung call was not released by ClearFaults")
	}
}

func TestStateSurvivesARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := start(t, marzban.Config{StateDir: dir})
	u := first.create(`{"username":"erin","proxies":{"vless":{}},"expire":1900000000,"note":"kept"}`)
	require.True(t, first.works(u.SubscriptionURL))
	token := first.token
	addr := strings.TrimPrefix(first.s.URL(), "http://")
	first.s.Close()

	second := startAt(t, marzban.Config{StateDir: dir}, addr)
	got, ok := second.s.User("erin")
	require.True(t, ok)
	require.Equal(t, "kept", got.Note)
	require.Equal(t, int64(1900000000), got.Expire)
	require.True(t, second.works(u.SubscriptionURL), "the link of the first run still works")
	status, body := second.call(token, http.MethodGet, "/api/user/erin", "")
	require.Equal(t, http.StatusOK, status, "the token of the first run is still good: %s", body)
	require.Equal(t, u.Proxies, decode[user](t, body).Proxies)
	second.create(`{"username":"frank","proxies":{"vless":{}}}`)
	users := second.s.Users()
	require.Equal(t, "frank", users[1].Username)
	require.Greater(t, users[1].ID, users[0].ID, "ids go on past the first run's")
}
