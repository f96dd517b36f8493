package vpn_test

import (
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/xui"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// xuiHarness runs the contract against sandboxes of version.
func xuiHarness(version string) vpntest.Harness[*xui.Server] {
	return vpntest.Harness[*xui.Server]{
		Start: func(t *testing.T) *xui.Server { return vpntest.StartXUI(t, version) },
		Adapter: func(t *testing.T, s *xui.Server, prefix string, pageSize int) vpn.Panel {
			return vpntest.XUIAdapter(t, s, prefix, pageSize)
		},
		WrongCredentials: func(t *testing.T, s *xui.Server) vpn.Panel {
			return vpntest.XUIAdapterWith(t, vpn.XUIConfig{
				BaseURL: s.URL(), Username: vpntest.XUIUsername, Password: "not-the-password",
				InboundID: xui.InboundID, SubscriptionURL: s.SubscriptionURL(),
			})
		},
		LinkWorks: func(t *testing.T, s *xui.Server, url string) bool { return vpntest.XUILinkWorks(t, s, url) },
		Exact:     true,
	}
}

func TestXUIContract(t *testing.T) {
	for _, version := range []string{"2.8", "2.9", "3.0", "3.1", xui.DefaultVersion} {
		t.Run("v"+version, func(t *testing.T) { vpntest.Contract(t, xuiHarness(version)) })
	}
}

// xuiAdd is the route a version adds clients with.
func xuiAdd(version string) string {
	if version == "2.9" || version == "3.0" {
		return "POST /panel/api/inbounds/addClient"
	}
	return "POST /panel/api/clients/add"
}

func TestXUIDetectsTheLineFromThePanel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version    string
		csrf       bool
		add, other string
	}{
		{"2.9", false, "POST /panel/api/inbounds/addClient", "POST /panel/api/clients/add"},
		{"3.0", true, "POST /panel/api/inbounds/addClient", "POST /panel/api/clients/add"},
		{"3.1", true, "POST /panel/api/clients/add", "POST /panel/api/inbounds/addClient"},
		{xui.DefaultVersion, true, "POST /panel/api/clients/add", "POST /panel/api/inbounds/addClient"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			s := vpntest.StartXUI(t, tc.version)
			p := vpntest.XUIAdapter(t, s, "", 0)
			a, err := p.CreateAccount(t.Context(), vpn.Owner{UserID: 1}, vpn.State{Enabled: true, ExpiresAt: time.Now().Add(time.Hour)})
			require.NoError(t, err)
			require.Equal(t, 1, s.Requests(tc.add), "the line's own route adds the client")
			require.Zero(t, s.Requests(tc.other))
			wantCSRF := 0
			if tc.csrf {
				wantCSRF = 1
			}
			require.Equal(t, wantCSRF, s.Requests("GET /csrf-token"), "only 3.x is asked for a CSRF token")
			require.True(t, vpntest.XUILinkWorks(t, s, a.URL))
			require.Equal(t, 1, s.Logins())
		})
	}
}

func TestXUILogsInAgainOnceWhenTheSessionEnds(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"2.9", "3.1"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := vpntest.StartXUI(t, version)
			p := vpntest.XUIAdapter(t, s, "", 0)
			ctx := t.Context()
			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 3}, vpn.State{Enabled: true, ExpiresAt: time.Now().Add(time.Hour)})
			require.NoError(t, err)
			require.Equal(t, 1, s.Logins())

			s.ExpireSessions()
			off := vpn.State{ExpiresAt: time.Now().Add(2 * time.Hour)}
			got, err := p.SetAccount(ctx, a.Ref(), off)
			require.NoError(t, err, "an unsafe call after the session ended: a new session and, on 3.x, a new CSRF token")
			require.False(t, got.Enabled)
			require.Equal(t, 2, s.Logins())
			_, err = p.Account(ctx, a.Ref())
			require.NoError(t, err)
			require.Equal(t, 2, s.Logins(), "the new session serves the next calls")
		})
	}
}

func TestXUINeverLoopsOnLogins(t *testing.T) {
	t.Parallel()
	s := vpntest.StartXUI(t, "2.9")
	p := vpntest.XUIAdapter(t, s, "", 0)
	const route = "GET /panel/api/inbounds/get/{id}"
	s.Inject(xui.Fault{Route: route, Status: http.StatusNotFound})
	_, err := p.Account(t.Context(), vpn.Ref{Name: vpn.AccountName(vpn.DefaultNamePrefix, 1)})
	require.Error(t, err)
	require.NotErrorIs(t, err, vpn.ErrNotFound, "a route the panel hides is not a missing account")
	require.Contains(t, err.Error(), "404")
	require.Equal(t, 2, s.Logins(), "the first login and one more")
	require.Equal(t, 2, s.Requests(route), "the call and one retry")
}

func TestXUIWrongLoginIsUnauthorized(t *testing.T) {
	t.Parallel()
	s := vpntest.StartXUI(t, "")
	const password = "s3cret-wrong-password"
	for name, cfg := range map[string]vpn.XUIConfig{
		"wrong password": {BaseURL: s.URL(), Username: vpntest.XUIUsername, Password: password},
		"wrong base path": {BaseURL: strings.TrimSuffix(s.URL(), vpntest.XUIWebBasePath) + "/guess/",
			Username: vpntest.XUIUsername, Password: vpntest.XUIPassword},
	} {
		cfg.InboundID, cfg.SubscriptionURL = xui.InboundID, s.SubscriptionURL()
		p := vpntest.XUIAdapterWith(t, cfg)
		_, err := p.Accounts(t.Context(), "")
		require.ErrorIs(t, err, vpn.ErrUnauthorized, name)
		require.NotContains(t, err.Error(), password, name)
		require.NotContains(t, err.Error(), vpntest.XUIWebBasePath, name)
	}
	require.Zero(t, s.Logins())
}

func TestXUIAdoptsTheClientOfALostAdd(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"2.9", "3.1"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := vpntest.StartXUI(t, version)
			p := vpntest.XUIAdapter(t, s, "", 0)
			ctx := t.Context()
			st := vpn.State{Enabled: true, ExpiresAt: time.Now().Add(time.Hour).UTC()}
			s.Inject(xui.Fault{Route: xuiAdd(version), Status: http.StatusBadGateway, ServeFirst: true, Times: 1})
			_, err := p.CreateAccount(ctx, vpn.Owner{UserID: 8}, st)
			require.ErrorIs(t, err, vpn.ErrUnavailable)
			require.Equal(t, 2, s.Accounts(), "the panel added the client before the answer was lost")

			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 8}, st)
			require.NoError(t, err)
			require.Equal(t, 2, s.Accounts(), "adopted, not added twice")
			require.Equal(t, 1, s.Requests(xuiAdd(version)), "found before adding again")
			require.True(t, a.Enabled)
			require.True(t, vpntest.XUILinkWorks(t, s, a.URL))
		})
	}
}

func TestXUIUnavailable(t *testing.T) {
	t.Parallel()
	s := vpntest.StartXUI(t, "")
	p := vpntest.XUIAdapter(t, s, "", 0)
	ctx := t.Context()
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusTooManyRequests} {
		s.Inject(xui.Fault{Route: "GET /panel/api/inbounds/get/{id}", Status: status, Times: 1})
		_, err := p.Accounts(ctx, "")
		require.ErrorIs(t, err, vpn.ErrUnavailable, "status %d", status)
	}
	s.Inject(xui.Fault{Route: "POST /login", Status: http.StatusServiceUnavailable, Times: 1})
	fresh := vpntest.XUIAdapter(t, s, "", 0)
	_, err := fresh.Accounts(ctx, "")
	require.ErrorIs(t, err, vpn.ErrUnavailable, "a login the panel could not answer")

	gone := vpntest.StartXUI(t, "")
	down := vpntest.XUIAdapter(t, gone, "", 0)
	gone.Close()
	_, err = down.CreateAccount(ctx, vpn.Owner{UserID: 1}, vpn.State{Enabled: true})
	require.ErrorIs(t, err, vpn.ErrUnavailable, "unreachable")
	require.NotContains(t, err.Error(), vpntest.XUIWebBasePath, "the web base path is a secret")
}

func TestXUIExpiredOrDepletedClientWorksAgainWhenSet(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"2.9", "3.1"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := vpntest.StartXUI(t, version)
			p := vpntest.XUIAdapter(t, s, "", 0)
			ctx := t.Context()
			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 4, Note: "order 17"},
				vpn.State{Enabled: true, ExpiresAt: time.Now().Add(time.Hour), DataLimitBytes: 1 << 30})
			require.NoError(t, err)

			require.True(t, s.DriftExpiry(a.Name, time.Now().Add(-time.Minute)))
			read, err := p.Account(ctx, a.Ref())
			require.NoError(t, err)
			require.False(t, read.Enabled, "expired")
			require.False(t, vpntest.XUILinkWorks(t, s, a.URL))
			want := vpn.State{Enabled: true, ExpiresAt: time.Now().Add(24 * time.Hour).UTC(), DataLimitBytes: 1 << 30}
			got, err := p.SetAccount(ctx, a.Ref(), want)
			require.NoError(t, err)
			require.True(t, got.Enabled)
			require.True(t, vpntest.XUILinkWorks(t, s, a.URL))

			require.True(t, s.AddTraffic(a.Name, 1<<30))
			read, err = p.Account(ctx, a.Ref())
			require.NoError(t, err)
			require.False(t, read.Enabled, "over its limit")
			require.False(t, vpntest.XUILinkWorks(t, s, a.URL))
			want.DataLimitBytes = 2 << 30
			got, err = p.SetAccount(ctx, a.Ref(), want)
			require.NoError(t, err)
			require.True(t, got.Enabled, "a larger limit than the traffic used")
			require.True(t, vpntest.XUILinkWorks(t, s, a.URL))

			b, err := p.RotateAccount(ctx, a.Ref())
			require.NoError(t, err)
			require.NotEqual(t, a.ID, b.ID, "a new client id: an app holding the old one is refused")
			require.False(t, s.Accepts(a.ID))
			users := s.Users()
			require.Equal(t, "order 17", users[len(users)-1].Comment, "fields the bot does not set are kept")
		})
	}
}

func TestXUICreatesADisabledClient(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"2.9", "3.1"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := vpntest.StartXUI(t, version)
			p := vpntest.XUIAdapter(t, s, "", 0)
			st := vpn.State{ExpiresAt: time.Now().Add(time.Hour).UTC(), DataLimitBytes: 5 << 30}
			a, err := p.CreateAccount(t.Context(), vpn.Owner{UserID: 6}, st)
			require.NoError(t, err)
			require.False(t, a.Enabled, "3.1 enables every new client: the adapter turns it off after")
			require.Equal(t, st.DataLimitBytes, a.DataLimitBytes)
			require.False(t, vpntest.XUILinkWorks(t, s, a.URL))
		})
	}
}

func TestXUIDeletingTheLastClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version string
		refused bool
	}{{"2.9", true}, {"3.1", false}} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			s := vpntest.StartXUI(t, tc.version)
			p := vpntest.XUIAdapter(t, s, "", 0)
			ctx := t.Context()
			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 2}, vpn.State{Enabled: true})
			require.NoError(t, err)
			operator := s.Users()[0].Email
			require.True(t, s.DriftDelete(operator))

			err = p.DeleteAccount(ctx, a.Ref())
			if !tc.refused {
				require.NoError(t, err)
				require.Zero(t, s.Accounts())
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), "no client remained in Inbound")
			require.Contains(t, err.Error(), "give inbound 1 a client of your own", "what the operator must do")
			require.NotContains(t, err.Error(), a.ID, "the client id is the VLESS credential")
			require.Equal(t, 1, s.Accounts())
		})
	}
}

func TestXUIRestartedSandboxKeepsTheAccounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := vpntest.StartXUIWith(t, xui.Config{StateDir: dir})
	p := vpntest.XUIAdapter(t, s, "", 0)
	ctx := t.Context()
	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 11}, vpn.State{Enabled: true, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	s.Close()

	again := vpntest.StartXUIWith(t, xui.Config{StateDir: dir})
	q := vpntest.XUIAdapter(t, again, "", 0)
	got, err := q.Account(ctx, vpn.Ref{Name: a.Name})
	require.NoError(t, err)
	require.Equal(t, a.ID, got.ID)
	require.Equal(t, path.Base(a.URL), path.Base(got.URL), "the same subscription id")
	require.True(t, got.Enabled)
	require.True(t, vpntest.XUILinkWorks(t, again, got.URL), "the restarted panel serves the link")
	require.Equal(t, 2, again.Accounts(), "the operator's client and ours, not a new first client")
}

func TestXUIErrorsKeepTheClientsCredentialsOut(t *testing.T) {
	t.Parallel()
	s := vpntest.StartXUI(t, "2.9")
	p := vpntest.XUIAdapterWith(t, vpn.XUIConfig{
		BaseURL: s.URL(), Username: vpntest.XUIUsername, Password: vpntest.XUIPassword, InboundID: xui.InboundID,
		SubscriptionURL: s.SubscriptionURL(), Timeout: 300 * time.Millisecond,
	})
	ctx := t.Context()
	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 12}, vpn.State{Enabled: true})
	require.NoError(t, err)
	subID := path.Base(a.URL)

	s.Inject(xui.Fault{Route: "POST /panel/api/inbounds/updateClient/{clientId}", Status: http.StatusInternalServerError, Times: 1})
	_, err = p.SetAccount(ctx, a.Ref(), vpn.State{})
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.Contains(t, err.Error(), "updateClient/{clientId}")

	s.Inject(xui.Fault{Route: "POST /panel/api/inbounds/{id}/delClient/{clientId}", Hang: true, Times: 1})
	err2 := p.DeleteAccount(ctx, a.Ref())
	require.ErrorIs(t, err2, vpn.ErrUnavailable, "no answer within the timeout")
	s.ClearFaults()

	for _, err := range []error{err, err2} {
		require.Contains(t, err.Error(), a.Name, "errors name the account by its email")
		require.NotContains(t, err.Error(), a.ID, "the client id is the VLESS credential")
		require.NotContains(t, err.Error(), subID, "the subId opens the subscription")
		require.NotContains(t, err.Error(), vpntest.XUIWebBasePath)
	}
}

func TestXUIConcurrentCallsShareOneLoginAndOneClient(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"2.9", "3.1"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := vpntest.StartXUI(t, version)
			p, q := vpntest.XUIAdapter(t, s, "", 0), vpntest.XUIAdapter(t, s, "", 0)
			ctx := t.Context()
			st := vpn.State{Enabled: true, ExpiresAt: time.Now().Add(time.Hour)}
			var wg sync.WaitGroup
			made := make([]vpn.Account, 8)
			errs := make([]error, len(made))
			for i := range made {
				wg.Go(func() {
					a := []vpn.Panel{p, q}[i%2]
					made[i], errs[i] = a.CreateAccount(ctx, vpn.Owner{UserID: 21}, st)
				})
			}
			wg.Wait()
			for i := range made {
				require.NoError(t, errs[i])
				require.Equal(t, made[0].ID, made[i].ID, "one client, adopted by every call")
			}
			require.Equal(t, 2, s.Accounts(), "the operator's client and one of ours")
			require.Equal(t, 2, s.Logins(), "one login an adapter")

			s.ExpireSessions()
			for i := range errs {
				wg.Go(func() { _, errs[i] = p.Account(ctx, made[0].Ref()) })
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			require.Equal(t, 3, s.Logins(), "the calls that found the session lost logged in once between them")
		})
	}
}
