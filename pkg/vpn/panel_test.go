package vpn_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/sandbox/marzban"
	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	"github.com/vpnbot/vpnbot/pkg/sandbox/xui"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// sandboxes are one sandbox panel of each kind.
type sandboxes struct {
	outline *outline.Server
	rw      *remnawave.Server
	mz      *marzban.Server
	xui     *xui.Server
}

func startSandboxes(t *testing.T) sandboxes {
	t.Helper()
	return sandboxes{
		outline: vpntest.StartOutline(t),
		rw:      vpntest.StartRemnawaveServer(t, remnawave.Config{Log: zerolog.Nop()}),
		mz:      vpntest.StartMarzban(t, marzban.Config{}),
		xui:     vpntest.StartXUI(t, ""),
	}
}

// accounts counts the accounts on each sandbox, by kind.
func (s sandboxes) accounts() map[string]int {
	return map[string]int{vpn.KindOutline: s.outline.Accounts(), vpn.KindRemnawave: s.rw.Accounts(),
		vpn.KindMarzban: len(s.mz.Users()), vpn.KindXUI: s.xui.Accounts()}
}

// panelsJSON is VPN_PANELS as an operator writes it for s: Outline and
// Remnawave in nl, Marzban and 3x-ui in de.
func (s sandboxes) panelsJSON() string {
	return fmt.Sprintf(`[
		{"name": "nl-1", "kind": "outline", "location": "nl", "weight": 3,
		 "url": %q, "cert_sha256": %q},
		{"name": "nl-2", "kind": "remnawave", "location": "nl", "capacity": 500,
		 "url": %q, "token": %q, "squads": [%q]},
		{"name": "de-1", "kind": "marzban", "location": "de", "weight": 2,
		 "url": %q, "username": %q, "password": %q, "proxies": ["vless", "trojan"]},
		{"name": "de-2", "kind": "3x-ui", "location": "de",
		 "url": %q, "username": %q, "password": %q, "inbound_id": %d, "subscription_url": %q}
	]`,
		s.outline.APIURL(), s.outline.CertSHA256(),
		s.rw.URL(), vpntest.RemnawaveToken, squad,
		s.mz.URL(), vpntest.MarzbanAdmin, vpntest.MarzbanPassword,
		s.xui.URL(), vpntest.XUIUsername, vpntest.XUIPassword, xui.InboundID, s.xui.SubscriptionURL())
}

// loadPanelEnv reads the PanelEnv of the environment, as a service does.
func loadPanelEnv(t *testing.T) vpn.PanelEnv {
	t.Helper()
	env, err := config.Load(vpn.NewPanelEnv())
	require.NoError(t, err)
	return env
}

// newFleet is env's fleet, closed when the test ends.
func newFleet(t *testing.T, env vpn.PanelEnv, calls int, observe vpn.Observer) *vpn.Fleet {
	t.Helper()
	f, err := env.New(calls, observe)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	return f
}

// member is what a fleet knows of one of its panels.
type member struct {
	name, kind, location string
	weight, capacity     int
}

func members(f *vpn.Fleet) []member {
	var out []member
	for _, m := range f.Members() {
		out = append(out, member{m.Name(), m.Kind(), m.Location(), m.Weight(), m.Capacity()})
	}
	return out
}

func TestPanelEnvBuildsTheFleetOfVPNPanels(t *testing.T) {
	s := startSandboxes(t)
	t.Setenv("VPN_PANELS", s.panelsJSON())
	t.Setenv("VPN_PANEL", "remnawave") // the single-panel settings give way to the list
	env := loadPanelEnv(t)
	require.Len(t, env.Specs(), 4)

	type call struct{ panel, method string }
	var (
		mu   sync.Mutex
		seen []call
	)
	f := newFleet(t, env, 2, func(panel, method string, _ time.Duration, err error) {
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, call{panel, method})
	})
	require.Equal(t, []member{
		{"nl-1", vpn.KindOutline, "nl", 3, 0},
		{"nl-2", vpn.KindRemnawave, "nl", 1, 500},
		{"de-1", vpn.KindMarzban, "de", 2, 0},
		{"de-2", vpn.KindXUI, "de", 1, 0},
	}, members(f), "an unset weight is 1")
	require.Equal(t, []string{"nl", "de"}, f.Locations())

	// Each member reaches its own panel with the credentials the list gives it.
	links := map[string]func(url string) bool{
		"nl-1": s.outline.KeyWorks,
		"nl-2": func(url string) bool { return vpntest.RemnawaveLinkWorks(t, url) },
		"de-1": func(url string) bool { return vpntest.MarzbanLinkWorks(t, s.mz, url) },
		"de-2": func(url string) bool { return vpntest.XUILinkWorks(t, s.xui, url) },
	}
	before := s.accounts()
	for i, m := range f.Members() {
		a, err := m.CreateAccount(t.Context(), vpn.Owner{UserID: int64(i + 1)}, month())
		require.NoError(t, err, m.Name())
		require.True(t, links[m.Name()](a.URL), "%s: the new account's link does not work", m.Name())
	}
	for kind, n := range s.accounts() {
		require.Equal(t, before[kind]+1, n, "accounts on the %s sandbox", kind)
	}
	u, ok := s.rw.User(vpn.AccountName(vpn.DefaultNamePrefix, 2))
	require.True(t, ok)
	require.Equal(t, []string{squad}, u.ActiveInternalSquads)
	mzUser, ok := s.mz.User(vpn.AccountName(vpn.DefaultNamePrefix, 3))
	require.True(t, ok)
	require.ElementsMatch(t, []string{"vless", "trojan"}, keys(mzUser.Proxies))
	require.Equal(t, []call{{"nl-1", "CreateAccount"}, {"nl-2", "CreateAccount"}, {"de-1", "CreateAccount"}, {"de-2", "CreateAccount"}},
		seen, "every call is told to the observer under its panel's name")
}

func TestPanelEnvTimeoutAndCallsReachTheAdapters(t *testing.T) {
	s := startSandboxes(t)
	t.Setenv("VPN_PANELS", s.panelsJSON())
	t.Setenv("VPN_PANEL_TIMEOUT", "200ms")
	f := newFleet(t, loadPanelEnv(t), 1, nil)

	// Without the timeout the call would wait out the minute and succeed.
	s.rw.Inject(remnawave.Fault{Latency: time.Minute})
	rw, _ := f.Member("nl-2")
	_, err := rw.Accounts(t.Context(), "")
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.ErrorContains(t, err, "no answer within 200ms")
	require.Equal(t, "nl-2", vpn.PanelOf(err))

	// One call at a time: while one waits on the panel, another waits for it.
	s.outline.Inject(outline.Fault{Hang: true})
	ol, _ := f.Member("nl-1")
	first := make(chan error, 1)
	go func() {
		_, err := ol.Accounts(t.Context(), "")
		first <- err
	}()
	require.Eventually(t, func() bool { return s.outline.Requests("GET /access-keys") == 1 }, 10*time.Second, 5*time.Millisecond)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = ol.Account(canceled, vpn.Ref{Name: "vpnbot_u1"})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "waiting for a outline call")
	s.outline.ClearFaults()
	require.NoError(t, <-first)
	require.Equal(t, 1, s.outline.Requests(""), "the second call reached the panel")
}

func TestPanelEnvFailover(t *testing.T) {
	s := startSandboxes(t)
	t.Setenv("VPN_PANELS", s.panelsJSON())
	for _, failover := range []string{"", "false"} {
		t.Run("VPN_FAILOVER="+failover, func(t *testing.T) {
			t.Setenv("VPN_FAILOVER", failover)
			f := newFleet(t, loadPanelEnv(t), 1, nil)
			ol, _ := f.Member("nl-1")
			s.outline.Inject(outline.Fault{Status: http.StatusServiceUnavailable, Times: 1})
			_, err := ol.Accounts(t.Context(), "")
			require.ErrorIs(t, err, vpn.ErrUnavailable)

			m, err := f.Place("nl", nil)
			if failover == "" {
				require.NoError(t, err, "failover is on unless turned off")
				require.Equal(t, "nl-2", m.Name(), "the down panel's users go to the other of its location")
			} else {
				require.NoError(t, err)
				require.Equal(t, "nl-1", m.Name(), "without failover new users wait for the down panel whose turn it is")
			}
		})
	}
}

func TestPanelEnvSinglePanelSettings(t *testing.T) {
	t.Run("remnawave", func(t *testing.T) {
		s := vpntest.StartRemnawaveServer(t, remnawave.Config{Log: zerolog.Nop()})
		t.Setenv("VPN_PANEL", "remnawave")
		t.Setenv("REMNAWAVE_URL", s.URL())
		t.Setenv("REMNAWAVE_TOKEN", vpntest.RemnawaveToken)
		t.Setenv("REMNAWAVE_SQUADS", squad+",2c6c7d2f-0b4f-4b90-9c1f-3e2e4d5c6b7a")
		env := loadPanelEnv(t)
		require.Equal(t, []vpn.PanelSpec{{Name: "remnawave", Kind: vpn.KindRemnawave, URL: s.URL(), Token: vpntest.RemnawaveToken,
			Squads: []string{squad, "2c6c7d2f-0b4f-4b90-9c1f-3e2e4d5c6b7a"}}}, env.Specs())
		f := newFleet(t, env, 1, nil)
		require.Equal(t, []member{{"remnawave", vpn.KindRemnawave, "", 1, 0}}, members(f))

		m, err := f.Place("", nil)
		require.NoError(t, err)
		a, err := m.CreateAccount(t.Context(), vpn.Owner{UserID: 1}, month())
		require.NoError(t, err)
		u, ok := s.User(a.Name)
		require.True(t, ok, "the account is on the configured panel")
		require.Len(t, u.ActiveInternalSquads, 2)
	})
	t.Run("outline by default", func(t *testing.T) {
		s := vpntest.StartOutline(t)
		t.Setenv("OUTLINE_API_URL", s.APIURL())
		t.Setenv("OUTLINE_CERT_SHA256", s.CertSHA256())
		f := newFleet(t, loadPanelEnv(t), 1, nil)
		require.Equal(t, []member{{"outline", vpn.KindOutline, "", 1, 0}}, members(f))
		m, _ := f.Member("outline")
		a, err := m.CreateAccount(t.Context(), vpn.Owner{UserID: 1}, enabled)
		require.NoError(t, err)
		require.True(t, s.KeyWorks(a.URL))
	})
}

func TestPanelEnvRejectsWhatCannotWork(t *testing.T) {
	const secret = "s3cret"
	list := func(specs ...string) map[string]string {
		return map[string]string{"VPN_PANELS": "[" + strings.Join(specs, ",") + "]"}
	}
	const (
		okOutline = `{"name": "a", "kind": "outline", "url": "https://203.0.113.5:41234/s3cret"}`
		okRW      = `{"name": "b", "kind": "remnawave", "url": "https://panel.example.com", "token": "s3cret"}`
	)
	for name, tc := range map[string]struct {
		env  map[string]string
		want []string
		not  []string
	}{
		"truncated JSON": {
			env:  map[string]string{"VPN_PANELS": `[{"name": "b", "kind": "remnawave", "token": "s3cret"`},
			want: []string{"want a JSON array of panels"},
		},
		"not a list": {env: map[string]string{"VPN_PANELS": okRW}, want: []string{"want a JSON array of panels"}},
		"unknown kind": {
			env:  list(`{"name": "a", "kind": "wireguard", "url": "https://vpn.example.com"}`),
			want: []string{`VPN_PANELS[0]: a: kind "wireguard": want outline, remnawave, marzban or 3x-ui`},
		},
		"outline without url":     {env: list(`{"name": "a", "kind": "outline"}`), want: []string{"a (outline) needs url"}},
		"remnawave without token": {env: list(`{"name": "b", "kind": "remnawave", "url": "https://p.example.com"}`), want: []string{"b (remnawave) needs token"}},
		"marzban without password": {
			env:  list(`{"name": "c", "kind": "marzban", "url": "https://p.example.com", "username": "admin"}`),
			want: []string{"c (marzban) needs password"},
			not:  []string{"needs username", "needs url"},
		},
		"3x-ui without its inbound": {
			env:  list(`{"name": "d", "kind": "3x-ui", "url": "https://p.example.com/x/", "username": "admin", "password": "s3cret"}`),
			want: []string{"d (3x-ui) needs inbound_id", "d (3x-ui) needs subscription_url"},
			not:  []string{"needs password"},
		},
		"a name twice": {
			env:  list(okOutline, strings.Replace(okRW, `"b"`, `"a"`, 1)),
			want: []string{`VPN_PANELS[1]: name "a" is used twice`},
		},
		"no name":           {env: list(strings.Replace(okOutline, `"a"`, `""`, 1)), want: []string{`name ""`}},
		"a name with space": {env: list(strings.Replace(okOutline, `"a"`, `"nl 1"`, 1)), want: []string{`name "nl 1"`}},
		"negative weight": {
			env:  list(strings.Replace(okOutline, `"name"`, `"weight": -1, "name"`, 1)),
			want: []string{"a: weight and capacity must not be negative"},
		},
		"negative capacity": {
			env:  list(strings.Replace(okRW, `"name"`, `"capacity": -5, "name"`, 1)),
			want: []string{"b: weight and capacity must not be negative"},
		},
		"every problem at once": {
			env:  list(`{"name": "a", "kind": "outline"}`, `{"name": "b", "kind": "remnawave", "url": "https://p.example.com"}`),
			want: []string{"VPN_PANELS[0]: a (outline) needs url", "VPN_PANELS[1]: b (remnawave) needs token"},
		},
		"no timeout": {
			env:  map[string]string{"VPN_PANELS": "[" + okOutline + "]", "VPN_PANEL_TIMEOUT": "0s"},
			want: []string{"VPN_PANEL_TIMEOUT=0s: must be positive"},
		},
		"single remnawave without its token": {
			env:  map[string]string{"VPN_PANEL": "remnawave", "REMNAWAVE_URL": "https://panel.example.com"},
			want: []string{"REMNAWAVE_URL and REMNAWAVE_TOKEN are required with VPN_PANEL=remnawave"},
		},
		"single outline by default without its URL": {
			env:  map[string]string{},
			want: []string{"OUTLINE_API_URL is required with VPN_PANEL=outline"},
		},
		"single panel of an unknown kind": {
			env:  map[string]string{"VPN_PANEL": "marzban", "REMNAWAVE_TOKEN": "s3cret"},
			want: []string{`VPN_PANEL="marzban": want outline or remnawave, or list the panels in VPN_PANELS`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := config.Load(vpn.NewPanelEnv())
			require.Error(t, err)
			for _, want := range tc.want {
				require.ErrorContains(t, err, want)
			}
			for _, not := range tc.not {
				require.NotContains(t, err.Error(), not)
			}
			require.NotContains(t, err.Error(), secret, "a credential in a configuration error")
		})
	}
}

func TestPanelEnvEnvironIsWhatLoadReadsBack(t *testing.T) {
	want := vpn.NewPanelEnv()
	want.Panels = vpn.PanelList{
		{Name: "outline", Kind: vpn.KindOutline, Location: "nl", URL: "https://127.0.0.1:41234/S3cretPath", CertSHA256: "AB12"},
		{Name: "nl-2", Kind: vpn.KindRemnawave, Location: "nl", Weight: 2, URL: "https://panel.example.com", Token: "s3cret", Squads: []string{"a", "b"}},
	}
	for _, kv := range config.Environ(want) {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	require.Equal(t, want, loadPanelEnv(t), "VPN_PANELS is written whole, as the JSON array it is read from")
}

func TestPanelEnvNewNamesThePanelItCannotBuild(t *testing.T) {
	t.Setenv("VPN_PANELS", `[
		{"name": "nl-1", "kind": "remnawave", "url": "https://panel.example.com", "token": "s3cret"},
		{"name": "nl-2", "kind": "outline", "url": "http://203.0.113.5:41234/S3cretPath"}
	]`)
	env := loadPanelEnv(t)
	_, err := env.New(1, nil)
	require.ErrorContains(t, err, "panel nl-2: outline APIURL must be an https:// URL")
	require.NotContains(t, err.Error(), "S3cretPath")
}

func TestPanelEnvStartupLogShowsNoSecret(t *testing.T) {
	s := startSandboxes(t)
	t.Setenv("VPN_PANELS", s.panelsJSON())
	t.Setenv("VPN_PANEL", "remnawave")
	t.Setenv("REMNAWAVE_URL", "https://panel.example.com")
	t.Setenv("REMNAWAVE_TOKEN", "legacy-t0ken")
	t.Setenv("OUTLINE_API_URL", "https://203.0.113.5:41234/LegacySecretPath")
	env := loadPanelEnv(t)

	var log bytes.Buffer
	logger := zerolog.New(&log)
	logger.Info().Fields(config.Fields(env)).Msg("configuration")
	line := log.String()
	require.Contains(t, line, `"VPN_PANELS":"***"`, "the list is there, hidden whole")
	require.Contains(t, line, `"REMNAWAVE_TOKEN":"***"`)
	require.Contains(t, line, `"OUTLINE_API_URL":"***"`)
	require.Contains(t, line, `"REMNAWAVE_URL":"https://panel.example.com"`, "what is no secret is shown")
	outlineSecret := s.outline.APIURL()[strings.LastIndex(s.outline.APIURL(), "/")+1:]
	for _, secret := range []string{vpntest.RemnawaveToken, vpntest.MarzbanPassword, vpntest.XUIPassword,
		outlineSecret, "legacy-t0ken", "LegacySecretPath"} {
		require.NotContains(t, line, secret)
	}

	t.Setenv("VPN_PANELS", "")
	t.Setenv("REMNAWAVE_TOKEN", "")
	t.Setenv("VPN_PANEL", "outline")
	require.Equal(t, "", config.Fields(loadPanelEnv(t))["VPN_PANELS"], "an unset list is not shown as set")
}
