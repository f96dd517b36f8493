package vpn_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/clocktest"
	"github.com/vpnbot/vpnbot/pkg/sandbox/marzban"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

func TestMarzbanContract(t *testing.T) {
	t.Parallel()
	vpntest.Contract(t, vpntest.MarzbanHarness())
}

const (
	loginRoute   = "POST /api/admin/token"
	getUserRoute = "GET /api/user/{username}"
)

// month is an enabled state for a month.
func month() vpn.State {
	return vpn.State{Enabled: true, ExpiresAt: time.Now().Add(30 * 24 * time.Hour).UTC()}
}

// newMarzban is the adapter pointed at s; edit changes the config.
func newMarzban(t *testing.T, s *marzban.Server, edit func(*vpn.MarzbanConfig)) *vpn.Marzban {
	t.Helper()
	cfg := vpn.MarzbanConfig{BaseURL: s.URL(), Username: vpntest.MarzbanAdmin, Password: vpntest.MarzbanPassword,
		Timeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	m, err := vpn.NewMarzban(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m
}

func TestMarzbanLogsInAgainOnceWhenTheTokenExpires(t *testing.T) {
	t.Parallel()
	c := clocktest.New(time.Now())
	s := vpntest.StartMarzban(t, marzban.Config{Now: c.Now, TokenLifetime: time.Hour})
	m := newMarzban(t, s, nil)
	ctx := t.Context()

	a, err := m.CreateAccount(ctx, vpn.Owner{UserID: 1}, month())
	require.NoError(t, err)
	_, err = m.Account(ctx, a.Ref())
	require.NoError(t, err)
	require.Equal(t, 1, s.Requests(loginRoute), "one login serves every call while the token lasts")
	gets := s.Requests(getUserRoute)

	c.Advance(2 * time.Hour)
	got, err := m.Account(ctx, a.Ref())
	require.NoError(t, err)
	require.Equal(t, a.ID, got.ID)
	require.Equal(t, 2, s.Requests(loginRoute), "the expired token was replaced by one login")
	require.Equal(t, gets+2, s.Requests(getUserRoute), "the refused call was made again, once")

	_, err = m.Account(ctx, a.Ref())
	require.NoError(t, err)
	require.Equal(t, 2, s.Requests(loginRoute), "the new token is kept")
}

func TestMarzbanWrongPasswordIsUnauthorizedWithoutALoop(t *testing.T) {
	t.Parallel()
	s := vpntest.StartMarzban(t, marzban.Config{})
	const password = "wrong-s3cret-password"
	m := newMarzban(t, s, func(c *vpn.MarzbanConfig) { c.Password = password })

	_, err := m.Account(t.Context(), vpn.Ref{Name: "vpnbot_u1"})
	require.ErrorIs(t, err, vpn.ErrUnauthorized)
	require.ErrorContains(t, err, "Incorrect username or password")
	require.NotContains(t, err.Error(), password)
	require.Equal(t, 1, s.Requests(loginRoute))
	require.Zero(t, s.Requests(getUserRoute), "nothing is asked without a token")
}

func TestMarzbanTokenRefusedAfterANewLoginIsUnauthorized(t *testing.T) {
	t.Parallel()
	s := vpntest.StartMarzban(t, marzban.Config{})
	m := newMarzban(t, s, nil)
	a, err := m.CreateAccount(t.Context(), vpn.Owner{UserID: 1}, month())
	require.NoError(t, err)
	gets := s.Requests(getUserRoute)

	s.Inject(marzban.Fault{Route: getUserRoute, Status: http.StatusUnauthorized})
	_, err = m.Account(t.Context(), a.Ref())
	require.ErrorIs(t, err, vpn.ErrUnauthorized)
	require.Equal(t, 2, s.Requests(loginRoute), "one login again, then the refusal is the answer")
	require.Equal(t, gets+2, s.Requests(getUserRoute))
}

func TestMarzbanAdoptsTheUserOfALostCreateAnswer(t *testing.T) {
	t.Parallel()
	s := vpntest.StartMarzban(t, marzban.Config{})
	m := newMarzban(t, s, nil)
	ctx := t.Context()
	want := month()

	s.Inject(marzban.Fault{Route: "POST /api/user", ServeFirst: true, Status: http.StatusBadGateway, Times: 1})
	_, err := m.CreateAccount(ctx, vpn.Owner{UserID: 42, Note: "first try"}, want)
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.Len(t, s.Users(), 1, "the panel made the user though its answer was lost")

	a, err := m.CreateAccount(ctx, vpn.Owner{UserID: 42}, want)
	require.NoError(t, err)
	require.Equal(t, "vpnbot_u42", a.ID)
	require.Equal(t, 1, s.Requests("POST /api/user"), "the user was adopted, not made again")
	require.Len(t, s.Users(), 1)
	require.True(t, vpntest.MarzbanLinkWorks(t, s, a.URL))
}

func TestMarzbanUnavailable(t *testing.T) {
	t.Parallel()
	s := vpntest.StartMarzban(t, marzban.Config{})
	m := newMarzban(t, s, func(c *vpn.MarzbanConfig) { c.Timeout = 200 * time.Millisecond })
	ctx := t.Context()
	a, err := m.CreateAccount(ctx, vpn.Owner{UserID: 3}, month())
	require.NoError(t, err)

	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		s.Inject(marzban.Fault{Route: getUserRoute, Status: status, Times: 1})
		_, err := m.Account(ctx, a.Ref())
		require.ErrorIs(t, err, vpn.ErrUnavailable, "status %d", status)
	}
	s.Inject(marzban.Fault{Route: "GET /api/users", Hang: true})
	t.Cleanup(s.ClearFaults)
	_, err = m.Accounts(ctx, "")
	require.ErrorIs(t, err, vpn.ErrUnavailable, "no answer within the timeout")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	down, err := vpn.NewMarzban(vpn.MarzbanConfig{BaseURL: "http://" + addr, Username: "admin", Password: "pw"})
	require.NoError(t, err)
	_, err = down.CreateAccount(ctx, vpn.Owner{UserID: 3}, month())
	require.ErrorIs(t, err, vpn.ErrUnavailable, "nothing listens")
	require.NoError(t, down.Close())
}

func TestMarzbanWrongBaseURLIsNoSuccess(t *testing.T) {
	t.Parallel()
	s := vpntest.StartMarzban(t, marzban.Config{})
	m := newMarzban(t, s, func(c *vpn.MarzbanConfig) { c.BaseURL = s.URL() + "/panel" })
	err := m.DeleteAccount(t.Context(), vpn.Ref{Name: "vpnbot_u1"})
	require.ErrorContains(t, err, "check BaseURL")
}

func TestMarzbanLapsedAccountsWorkAgain(t *testing.T) {
	t.Parallel()
	s := vpntest.StartMarzban(t, marzban.Config{})
	m := newMarzban(t, s, nil)
	ctx := t.Context()
	want := month()
	want.DataLimitBytes = 1 << 30

	for i, lapse := range []struct {
		name string
		do   func(username string) bool
	}{
		{"over its limit", func(u string) bool { return s.DriftUsage(u, 2<<30) }},
		{"expired", func(u string) bool { return s.DriftExpiry(u, time.Now().Add(-time.Hour)) }},
		{"disabled", s.DriftDisable},
	} {
		name := lapse.name
		a, err := m.CreateAccount(ctx, vpn.Owner{UserID: int64(i + 1), Note: name}, want)
		require.NoError(t, err, name)
		require.True(t, lapse.do(a.Name), name)
		read, err := m.Account(ctx, a.Ref())
		require.NoError(t, err, name)
		require.False(t, read.Enabled, name)
		require.False(t, vpntest.MarzbanLinkWorks(t, s, a.URL), name)

		got, err := m.SetAccount(ctx, a.Ref(), want)
		require.NoError(t, err, name)
		require.True(t, got.Enabled, name)
		require.Equal(t, a.URL, got.URL, name)
		require.True(t, vpntest.MarzbanLinkWorks(t, s, got.URL), name)
		u, _ := s.User(a.Name)
		require.Equal(t, marzban.StatusActive, u.Status, name)
		if i == 0 {
			require.Zero(t, u.UsedTraffic, "a renewal over the limit starts the traffic afresh")
		}
	}
	require.False(t, s.DriftDisable("vpnbot_u99"), "no such user")
}

func TestMarzbanCreatesWithTheConfiguredProxiesInboundsAndNote(t *testing.T) {
	t.Parallel()
	s := vpntest.StartMarzban(t, marzban.Config{})
	m := newMarzban(t, s, func(c *vpn.MarzbanConfig) {
		c.Proxies = []string{"vless", "trojan"}
		c.Inbounds = map[string][]string{"vless": {"VLESS TCP REALITY"}}
		c.NamePrefix = "shop_1"
	})
	off := month()
	off.Enabled = false
	a, err := m.CreateAccount(t.Context(), vpn.Owner{UserID: 77, Note: strings.Repeat("n", 600)}, off)
	require.NoError(t, err)
	require.Equal(t, "shop_1_u77", a.Name)
	require.False(t, a.Enabled, "made disabled as asked")
	u, ok := s.User("shop_1_u77")
	require.True(t, ok)
	require.Equal(t, marzban.StatusDisabled, u.Status)
	require.Equal(t, off.ExpiresAt.Unix(), u.Expire)
	require.ElementsMatch(t, []string{"vless", "trojan"}, keys(u.Proxies))
	require.Equal(t, []string{"VLESS TCP REALITY"}, u.Inbounds["vless"])
	require.Equal(t, []string{"Trojan Websocket TLS"}, u.Inbounds["trojan"], "all of trojan's inbounds")
	require.Len(t, u.Note, 500, "cut to what the panel keeps")

	vlessOnly := vpntest.StartMarzban(t, marzban.Config{Inbounds: []marzban.Inbound{{Tag: "v", Protocol: "vless", Port: 443}}})
	m = newMarzban(t, vlessOnly, func(c *vpn.MarzbanConfig) { c.Proxies = []string{"vmess"} })
	_, err = m.CreateAccount(t.Context(), vpn.Owner{UserID: 1}, month())
	require.ErrorContains(t, err, "Protocol vmess is disabled on your server")
	require.False(t, errors.Is(err, vpn.ErrUnavailable) || errors.Is(err, vpn.ErrUnauthorized), "%v", err)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestMarzbanKeepsHandingOutOneLinkWhileThePanelIssuesNewOnes(t *testing.T) {
	t.Parallel()
	c := clocktest.New(time.Now())
	s := vpntest.StartMarzban(t, marzban.Config{Now: c.Now})
	m := newMarzban(t, s, nil)
	ctx := t.Context()
	a, err := m.CreateAccount(ctx, vpn.Owner{UserID: 5}, month())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(a.URL, s.URL()+"/sub/"), "the panel's relative URL made absolute: %s", a.URL)

	c.Advance(5 * time.Second)
	got, err := m.Account(ctx, a.Ref())
	require.NoError(t, err)
	require.Equal(t, a.URL, got.URL)

	other := newMarzban(t, s, nil) // another replica, or this one restarted
	fresh, err := other.Account(ctx, a.Ref())
	require.NoError(t, err)
	require.NotEqual(t, a.URL, fresh.URL, "the panel answered a token of a later second")
	require.True(t, vpntest.MarzbanLinkWorks(t, s, fresh.URL))
	require.True(t, vpntest.MarzbanLinkWorks(t, s, a.URL), "both links are the account's")

	prefixed := vpntest.StartMarzban(t, marzban.Config{SubscriptionURLPrefix: "https://sub.example.com/"})
	b, err := newMarzban(t, prefixed, nil).CreateAccount(ctx, vpn.Owner{UserID: 5}, month())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(b.URL, "https://sub.example.com/sub/"), b.URL)
}

func TestMarzbanAccountsSurviveASandboxRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := marzban.New(marzban.Config{Username: vpntest.MarzbanAdmin, Password: vpntest.MarzbanPassword, StateDir: dir})
	require.NoError(t, first.Start("127.0.0.1:0"))
	addr := strings.TrimPrefix(first.URL(), "http://")
	m := newMarzban(t, first, nil)
	ctx := t.Context()
	a, err := m.CreateAccount(ctx, vpn.Owner{UserID: 8}, month())
	require.NoError(t, err)
	first.Close()

	second := marzban.New(marzban.Config{Username: vpntest.MarzbanAdmin, Password: vpntest.MarzbanPassword, StateDir: dir})
	require.NoError(t, second.Start(addr))
	t.Cleanup(second.Close)
	got, err := m.Account(ctx, a.Ref())
	require.NoError(t, err)
	require.Equal(t, a, got)
	require.Zero(t, second.Requests(loginRoute), "the token of the first run is still good")
	require.True(t, vpntest.MarzbanLinkWorks(t, second, a.URL))
}

func TestNewMarzbanChecksTheConfig(t *testing.T) {
	t.Parallel()
	ok := vpn.MarzbanConfig{BaseURL: "https://panel.example.com", Username: "admin", Password: "pw"}
	m, err := vpn.NewMarzban(ok)
	require.NoError(t, err)
	require.Equal(t, vpn.KindMarzban, m.Kind())
	require.NoError(t, m.Close())
	for name, edit := range map[string]func(*vpn.MarzbanConfig){
		"no scheme":          func(c *vpn.MarzbanConfig) { c.BaseURL = "panel.example.com" },
		"no password":        func(c *vpn.MarzbanConfig) { c.Password = "" },
		"uppercase prefix":   func(c *vpn.MarzbanConfig) { c.NamePrefix = "VPNBot" },
		"dash in prefix":     func(c *vpn.MarzbanConfig) { c.NamePrefix = "vpn-bot" },
		"prefix too long":    func(c *vpn.MarzbanConfig) { c.NamePrefix = "abcdefghijkl" },
		"unknown protocol":   func(c *vpn.MarzbanConfig) { c.Proxies = []string{"wireguard"} },
		"inbounds not asked": func(c *vpn.MarzbanConfig) { c.Inbounds = map[string][]string{"vmess": {"x"}} },
	} {
		cfg := ok
		edit(&cfg)
		_, err := vpn.NewMarzban(cfg)
		require.Error(t, err, name)
	}
	longest := ok
	longest.NamePrefix = "abcdefghijk"
	_, err = vpn.NewMarzban(longest)
	require.NoError(t, err, "11 characters leave room for _u and 19 digits in 32")
	require.Len(t, vpn.AccountName("abcdefghijk", 1<<62), 32)

	_, err = m.CreateAccount(context.Background(), vpn.Owner{UserID: 1}, vpn.State{Enabled: true})
	require.ErrorContains(t, err, "no expiry")
}
