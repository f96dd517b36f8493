package xui_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/sandbox/xui"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// browser is one cookie session against a sandbox.
type browser struct {
	t      *testing.T
	s      *xui.Server
	client *http.Client
	csrf   string
}

func start(t *testing.T, cfg xui.Config) *browser {
	t.Helper()
	s, err := xui.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(s.Close)
	return newBrowser(t, s)
}

func newBrowser(t *testing.T, s *xui.Server) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, s: s, client: &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}}
}

// call sends body (JSON unless a string) to path under the panel's URL,
// with the CSRF token once it has one, and returns the status and body.
func (b *browser) call(method, path string, body any, header ...string) (int, string) {
	b.t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		require.NoError(b.t, err)
		r = strings.NewReader(string(data))
	}
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.s.URL()+strings.TrimPrefix(path, "/"), r)
	require.NoError(b.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.csrf != "" {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, string(data)
}

type msg struct {
	Success bool            `json:"success"`
	Msg     string          `json:"msg"`
	Obj     json.RawMessage `json:"obj"`
}

func (b *browser) msg(method, path string, body any) msg {
	b.t.Helper()
	status, text := b.call(method, path, body)
	require.Equal(b.t, http.StatusOK, status, "%s %s: %s", method, path, text)
	var m msg
	require.NoError(b.t, json.Unmarshal([]byte(text), &m), text)
	return m
}

// login fetches a CSRF token when the panel gives one, then logs in.
func (b *browser) login(password string) msg {
	b.t.Helper()
	if status, text := b.call(http.MethodGet, "/csrf-token", nil); status == http.StatusOK {
		var m struct{ Obj string }
		require.NoError(b.t, json.Unmarshal([]byte(text), &m))
		b.csrf = m.Obj
	}
	return b.msg(http.MethodPost, "/login", map[string]string{"username": "admin", "password": password})
}

type inbound struct {
	Settings    json.RawMessage `json:"settings"`
	ClientStats []struct {
		Email string `json:"email"`
		Down  int64  `json:"down"`
	} `json:"clientStats"`
}

type client struct {
	ID         string `json:"id"`
	Email      string `json:"email"`
	Enable     bool   `json:"enable"`
	ExpiryTime int64  `json:"expiryTime"`
	TotalGB    int64  `json:"totalGB"`
	SubID      string `json:"subId"`
}

// clients reads inbound 1's clients, and whether its settings came as text.
func (b *browser) clients() ([]client, bool) {
	b.t.Helper()
	m := b.msg(http.MethodGet, "/panel/api/inbounds/get/1", nil)
	require.True(b.t, m.Success, m.Msg)
	var in inbound
	require.NoError(b.t, json.Unmarshal(m.Obj, &in))
	settings, text := in.Settings, false
	var s string
	if json.Unmarshal(settings, &s) == nil {
		settings, text = json.RawMessage(s), true
	}
	var set struct{ Clients []client }
	require.NoError(b.t, json.Unmarshal(settings, &set))
	return set.Clients, text
}

func settingsText(c client) string {
	b, _ := json.Marshal(map[string][]client{"clients": {c}})
	return string(b)
}

func TestLine2HidesTheAPIAndKeepsTheLastClient(t *testing.T) {
	t.Parallel()
	b := start(t, xui.Config{Version: "2.9", WebBasePath: "/base/"})
	status, _ := b.call(http.MethodGet, "/csrf-token", nil)
	require.Equal(t, http.StatusNotFound, status, "2.x has no CSRF token")
	status, body := b.call(http.MethodGet, "/panel/api/inbounds/get/1", nil)
	require.Equal(t, http.StatusNotFound, status, "the API hides from strangers")
	require.Empty(t, body)

	require.False(t, b.login("wrong").Success)
	require.True(t, b.login("admin").Success)
	require.Equal(t, 1, b.s.Logins())
	first, text := b.clients()
	require.True(t, text, "2.x answers settings as JSON text")
	require.Len(t, first, 1, "the inbound's first client, the operator's")

	c := client{ID: "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f", Email: "vpnbot_u1", Enable: true, SubID: "sub1"}
	m := b.msg(http.MethodPost, "/panel/api/inbounds/addClient", map[string]any{"id": 1, "settings": settingsText(c)})
	require.True(t, m.Success, m.Msg)
	c.ID = "another-id"
	m = b.msg(http.MethodPost, "/panel/api/inbounds/addClient", map[string]any{"id": 1, "settings": settingsText(c)})
	require.False(t, m.Success)
	require.Contains(t, m.Msg, "Duplicate email: vpnbot_u1")
	status, _ = b.call(http.MethodPost, "/panel/api/clients/add", map[string]any{})
	require.Equal(t, http.StatusNotFound, status, "2.x has no clients API")

	c.ID, c.Enable, c.ExpiryTime = "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f", false, 1893456000000
	m = b.msg(http.MethodPost, "/panel/api/inbounds/updateClient/"+c.ID, map[string]any{"id": 1, "settings": settingsText(c)})
	require.True(t, m.Success, m.Msg)
	got, _ := b.clients()
	require.Equal(t, c, got[1])

	m = b.msg(http.MethodPost, "/panel/api/inbounds/1/delClient/"+first[0].ID, nil)
	require.True(t, m.Success, m.Msg)
	m = b.msg(http.MethodPost, "/panel/api/inbounds/1/delClient/"+c.ID, nil)
	require.False(t, m.Success)
	require.Contains(t, m.Msg, "no client remained in Inbound")
	m = b.msg(http.MethodPost, "/panel/api/inbounds/1/delClient/nobody", nil)
	require.Contains(t, m.Msg, "Client Not Found In Inbound For ID: nobody")
	require.Equal(t, 1, b.s.Accounts())

	b.s.ExpireSessions()
	status, _ = b.call(http.MethodGet, "/panel/api/inbounds/get/1", nil)
	require.Equal(t, http.StatusNotFound, status, "an ended session is no session")
}

func TestLine3WantsTheCSRFTokenAndServesTheClientsAPI(t *testing.T) {
	t.Parallel()
	b := start(t, xui.Config{Version: "3.1"})
	status, _ := b.call(http.MethodPost, "/login", map[string]string{"username": "admin", "password": "admin"})
	require.Equal(t, http.StatusForbidden, status, "a login without the CSRF token")
	require.True(t, b.login("admin").Success)

	token := b.csrf
	b.csrf = ""
	status, _ = b.call(http.MethodPost, "/panel/api/clients/add", map[string]any{})
	require.Equal(t, http.StatusForbidden, status, "an unsafe call without the token")
	b.csrf = token
	status, _ = b.call(http.MethodPost, "/panel/api/inbounds/addClient", map[string]any{})
	require.Equal(t, http.StatusNotFound, status, "3.1 dropped the inbound client routes")

	m := b.msg(http.MethodPost, "/panel/api/clients/add", map[string]any{
		"client": client{Email: "vpnbot_u2", Enable: false, TotalGB: 1 << 30}, "inboundIds": []int{1},
	})
	require.True(t, m.Success, m.Msg)
	got, text := b.clients()
	require.False(t, text, "3.1 answers settings as an object")
	c := got[1]
	require.True(t, c.Enable, "3.1 enables every new client")
	require.NotEmpty(t, c.ID)
	require.NotEmpty(t, c.SubID)
	m = b.msg(http.MethodPost, "/panel/api/clients/add", map[string]any{"client": client{Email: "VPNBOT_U2"}, "inboundIds": []int{1}})
	require.Contains(t, m.Msg, "email already in use")

	m = b.msg(http.MethodGet, "/panel/api/clients/get/vpnbot_u2", nil)
	require.True(t, m.Success)
	require.Contains(t, string(m.Obj), `"inboundIds":[1]`)
	c.Enable, c.SubID = false, ""
	m = b.msg(http.MethodPost, "/panel/api/clients/update/vpnbot_u2", c)
	require.True(t, m.Success, m.Msg)
	after, _ := b.clients()
	require.False(t, after[1].Enable)
	require.Equal(t, got[1].SubID, after[1].SubID, "an update without a subId keeps it")

	m = b.msg(http.MethodPost, "/panel/api/clients/del/vpnbot_u2", nil)
	require.True(t, m.Success, m.Msg)
	m = b.msg(http.MethodPost, "/panel/api/clients/del/vpnbot_u2", nil)
	require.Contains(t, m.Msg, "record not found")

	b.s.ExpireSessions()
	status, _ = b.call(http.MethodGet, "/panel/api/inbounds/get/1", nil, "X-Requested-With", "XMLHttpRequest")
	require.Equal(t, http.StatusUnauthorized, status, "3.x tells an XMLHttpRequest it is not logged in")
}

func TestSubscriptionServesLinksTheRunningXrayJudges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version string
		unknown int
	}{{"2.9", http.StatusBadRequest}, {"3.1", http.StatusNotFound}} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			b := start(t, xui.Config{Version: tc.version})
			op := b.s.Users()[0]
			resp, err := b.client.Get(b.s.SubscriptionURL() + "/" + op.SubID)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusOK, resp.StatusCode)
			links, err := base64.StdEncoding.DecodeString(string(body))
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(string(links), "vless://"+op.ID+"@127.0.0.1:443?"), string(links))
			require.Contains(t, resp.Header.Get("Subscription-Userinfo"), "total=0")
			require.True(t, b.s.Accepts(op.ID))

			require.True(t, b.s.DriftDisable(op.Email))
			require.False(t, b.s.Accepts(op.ID), "Xray refuses a disabled client")
			resp, err = b.client.Get(b.s.SubscriptionURL() + "/" + op.SubID)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusOK, resp.StatusCode, "the panel lists a disabled client's link still")

			resp, err = b.client.Get(b.s.SubscriptionURL() + "/nosuchsub")
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, tc.unknown, resp.StatusCode)
		})
	}
}

func TestTheJobDisablesExpiredAndDepletedClients(t *testing.T) {
	t.Parallel()
	b := start(t, xui.Config{})
	op := b.s.Users()[0]
	require.False(t, b.s.DriftExpiry("nobody", time.Now()))
	require.False(t, b.s.AddTraffic("nobody", 1))
	require.False(t, b.s.DriftDisable("nobody"))
	require.False(t, b.s.DriftDelete("nobody"))

	require.True(t, b.s.DriftExpiry(op.Email, time.Now().Add(-time.Second)))
	require.False(t, b.s.Users()[0].Enable, "expired: disabled for good")
	require.True(t, b.s.DriftExpiry(op.Email, time.Time{}))
	require.False(t, b.s.Users()[0].Enable, "a new expiry does not enable it again")

	require.True(t, b.login("admin").Success)
	got, _ := b.clients()
	c := got[0]
	c.Enable, c.TotalGB = true, 100
	m := b.msg(http.MethodPost, "/panel/api/clients/update/"+c.Email, c)
	require.True(t, m.Success, m.Msg)
	require.True(t, b.s.AddTraffic(op.Email, 100))
	require.False(t, b.s.Users()[0].Enable, "depleted")
	require.Equal(t, int64(100), b.s.Users()[0].Down)
	require.True(t, b.s.DriftDelete(op.Email))
	require.Zero(t, b.s.Accounts())
}

func TestFaultsAndControlAPI(t *testing.T) {
	t.Parallel()
	b := start(t, xui.Config{})
	require.True(t, b.login("admin").Success)
	ctl := func(method, path, body string) int {
		req, err := http.NewRequestWithContext(t.Context(), method, strings.TrimSuffix(b.s.URL(), "/")+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := b.client.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}
	require.Equal(t, http.StatusNoContent, ctl(http.MethodPost, "/sandbox/faults", `{"route":"POST /panel/api/clients/add","status":502,"times":1,"serve_first":true}`))
	status, _ := b.call(http.MethodPost, "/panel/api/clients/add", map[string]any{"client": client{Email: "x"}, "inboundIds": []int{1}})
	require.Equal(t, http.StatusBadGateway, status)
	require.Equal(t, 2, b.s.Accounts(), "served before the answer was lost")
	require.Equal(t, 1, b.s.Requests("POST /panel/api/clients/add"))

	status, body := b.call(http.MethodGet, "/sandbox/users", nil)
	require.Equal(t, http.StatusOK, status)
	var users []xui.Client
	require.NoError(t, json.Unmarshal([]byte(body), &users))
	require.Len(t, users, 2)
	require.Equal(t, "x", users[1].Email)

	require.Equal(t, http.StatusNoContent, ctl(http.MethodPost, "/sandbox/sessions/expire", ""))
	status, _ = b.call(http.MethodGet, "/panel/api/inbounds/get/1", nil)
	require.Equal(t, http.StatusNotFound, status)

	b.s.Inject(xui.Fault{Hang: true})
	done := make(chan int, 1)
	go func() {
		resp, err := b.client.Post(b.s.URL()+"login", "application/json", strings.NewReader("{}"))
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return b.s.Requests("POST /login") == 2 }, 5*time.Second, 5*time.Millisecond)
	b.s.ClearFaults()
	select {
	case status := <-done:
		require.Equal(t, http.StatusForbidden, status, "released and served: a login without the CSRF token")
	case <-time.After(5 * time.Second):
		t.Fatal("ClearFaults did not release the hung call")
	}
}

func TestNewRefusesUnknownVersions(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"2.7", "4.0", "x", "3.1.0.1"} {
		_, err := xui.New(xui.Config{Version: v})
		require.Error(t, err, v)
	}
	_, err := xui.New(xui.Config{WebBasePath: "panel"})
	require.Error(t, err)
}

func TestRestartKeepsTheClients(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := start(t, xui.Config{StateDir: dir, Version: "2.9"})
	require.True(t, b.login("admin").Success)
	c := client{ID: "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f", Email: "vpnbot_u1", Enable: true, SubID: "keepme"}
	require.True(t, b.msg(http.MethodPost, "/panel/api/inbounds/addClient", map[string]any{"id": 1, "settings": settingsText(c)}).Success)
	require.True(t, b.s.AddTraffic("vpnbot_u1", 42))
	before := b.s.Users()
	b.s.Close()

	again := start(t, xui.Config{StateDir: dir, Version: "2.9"})
	require.Equal(t, before, again.s.Users())
	resp, err := again.client.Get(again.s.SubscriptionURL() + "/keepme")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	status, _ := again.call(http.MethodGet, "/panel/api/inbounds/get/1", nil)
	require.Equal(t, http.StatusNotFound, status, "sessions end with the process")
}
