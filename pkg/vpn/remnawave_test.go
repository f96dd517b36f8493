package vpn_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

const squad = "1b5b6c1e-9a3e-4a8f-8b0e-2f1d3c4b5a69"

// newRemnawave is the production adapter pointed at s, which accepts
// vpntest.RemnawaveToken; edit changes the config.
func newRemnawave(t *testing.T, s *remnawave.Server, edit func(*vpn.RemnawaveConfig)) *vpn.Remnawave {
	t.Helper()
	cfg := vpn.RemnawaveConfig{BaseURL: s.URL(), Token: vpntest.RemnawaveToken, Timeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	r, err := vpn.NewRemnawave(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

// panelCall calls the sandbox's API as an operator or another tool would.
func panelCall(t *testing.T, s *remnawave.Server, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+vpntest.RemnawaveToken)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

func TestRemnawaveCreatesTheUserInItsSquadsWithItsOwner(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			p := newRemnawave(t, s, func(c *vpn.RemnawaveConfig) { c.SquadUUIDs = []string{squad} })
			ctx := t.Context()
			want := month()

			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 42, Note: "Alice, paid by card"}, want)
			require.NoError(t, err)
			u, ok := s.User("vpnbot_u42")
			require.True(t, ok)
			require.Equal(t, []string{squad}, u.ActiveInternalSquads, "without its squads the user gets an empty subscription")
			require.NotNil(t, u.TelegramID)
			require.Equal(t, int64(42), *u.TelegramID)
			require.NotNil(t, u.Description)
			require.Equal(t, "Alice, paid by card", *u.Description)
			require.Equal(t, remnawave.StatusActive, u.Status)
			require.Zero(t, u.TrafficLimitBytes, "unlimited traffic")
			require.True(t, want.ExpiresAt.Truncate(time.Millisecond).Equal(u.ExpireAt), "%v != %v", want.ExpiresAt, u.ExpireAt)
			require.Equal(t, u.SubscriptionURL, a.URL, "the user gets the panel's subscription URL")

			off := month()
			off.Enabled = false
			_, err = p.CreateAccount(ctx, vpn.Owner{UserID: 43}, off)
			require.NoError(t, err)
			u, _ = s.User("vpnbot_u43")
			require.Equal(t, remnawave.StatusDisabled, u.Status, "created disabled, as asked")
		})
	}
}

func TestRemnawaveExpiryInThePast(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			p := newRemnawave(t, s, nil)
			ctx := t.Context()
			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 1}, month())
			require.NoError(t, err)

			past := vpn.State{Enabled: true, ExpiresAt: time.Now().Add(-time.Hour)}
			_, err = p.SetAccount(ctx, a.Ref(), past)
			require.Error(t, err, "the panel refuses an expiry in the past")
			require.NotErrorIs(t, err, vpn.ErrUnavailable, "retrying will not make the past the future")
			require.ErrorContains(t, err, "cannot be in the past", "the panel's own reason reaches the operator")

			// Disabling at the end of a period passes that moment, now past:
			// the user is disabled and keeps the expiry it had.
			past.Enabled = false
			got, err := p.SetAccount(ctx, a.Ref(), past)
			require.NoError(t, err)
			require.False(t, got.Enabled)
			require.True(t, a.ExpiresAt.Equal(got.ExpiresAt), "%v != %v", a.ExpiresAt, got.ExpiresAt)
			require.False(t, vpntest.RemnawaveLinkWorks(t, a.URL))
		})
	}
}

func TestRemnawaveAccountsSkipNamesThatAreNotAccounts(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			p := newRemnawave(t, s, nil)
			ctx := t.Context()
			var want []string
			for u := int64(1); u <= 2; u++ {
				a, err := p.CreateAccount(ctx, vpn.Owner{UserID: u}, month())
				require.NoError(t, err)
				want = append(want, a.Name)
			}
			// Made by hand, by the per-period names older versions made, and
			// by a name that only looks like an account.
			for _, username := range []string{"manual_user", "vpnbot_42", "vpnbot_x1", "vpnbot_u07"} {
				require.Equal(t, http.StatusCreated, panelCall(t, s, http.MethodPost, "/api/users",
					`{"username":"`+username+`","expireAt":"2031-01-01T00:00:00.000Z"}`), username)
			}
			require.Equal(t, 6, s.Accounts())

			page, err := p.Accounts(ctx, "")
			require.NoError(t, err)
			require.Equal(t, want, names(page))
			require.Empty(t, page.Next)
		})
	}
}

func TestRemnawaveFailuresAreUnavailable(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			p := newRemnawave(t, s, nil)
			ctx := t.Context()
			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 1}, month())
			require.NoError(t, err)

			for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable} {
				s.Inject(remnawave.Fault{Status: status})
				for method, err := range panelCalls(ctx, p, month()) {
					require.ErrorIs(t, err, vpn.ErrUnavailable, "%s on %d", method, status)
					require.ErrorContains(t, err, fmt.Sprintf("answered %d", status), method)
				}
				s.ClearFaults()
			}
			got, err := p.Account(ctx, a.Ref())
			require.NoError(t, err)
			require.Equal(t, a, got, "no failed call changed the account")
			require.Equal(t, 1, s.Accounts())

			s.Close()
			for method, err := range panelCalls(ctx, p, month()) {
				require.ErrorIs(t, err, vpn.ErrUnavailable, "%s on a closed panel", method)
			}
		})
	}
}

func TestRemnawaveSlowPanelTimesOut(t *testing.T) {
	t.Parallel()
	s := startRW(t, remnawave.Version3)
	p := newRemnawave(t, s, func(c *vpn.RemnawaveConfig) { c.Timeout = 200 * time.Millisecond })

	// Without the timeout the call would wait out the minute and succeed.
	s.Inject(remnawave.Fault{Latency: time.Minute})
	_, err := p.CreateAccount(t.Context(), vpn.Owner{UserID: 4}, month())
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.ErrorContains(t, err, "no answer within 200ms")
	s.ClearFaults()
	require.Zero(t, s.Accounts())
}

func TestRemnawaveWrongTokenFailsEveryCall(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			a, err := newRemnawave(t, s, nil).CreateAccount(t.Context(), vpn.Owner{UserID: 1}, month())
			require.NoError(t, err)
			const wrong = "eyJhbGciOiJIUzI1NiJ9.stolen-or-stale"
			p := newRemnawave(t, s, func(c *vpn.RemnawaveConfig) { c.Token = wrong })

			off := month()
			off.Enabled = false
			for method, err := range panelCalls(t.Context(), p, off) {
				require.ErrorIs(t, err, vpn.ErrUnauthorized, method)
				require.NotErrorIs(t, err, vpn.ErrUnavailable, "%s: retrying will not fix a wrong token", method)
				require.NotContains(t, err.Error(), "stolen", "%s: the token never appears in errors", method)
			}
			require.True(t, vpntest.RemnawaveLinkWorks(t, a.URL), "a refused call disabled, rotated or deleted the account")
		})
	}
}

func TestRemnawaveWrongBaseURLIsNoSuccess(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			p := newRemnawave(t, s, func(c *vpn.RemnawaveConfig) { c.BaseURL += "/panel" })

			// A 404 of a path the panel does not serve is not a missing user:
			// a delete would report success, a read would report the user gone.
			for method, err := range panelCalls(t.Context(), p, month()) {
				require.Error(t, err, method)
				require.NotErrorIs(t, err, vpn.ErrNotFound, method)
				require.ErrorContains(t, err, "check BaseURL", method)
			}
			require.Zero(t, s.Accounts())
		})
	}
}

func TestRemnawaveRefusesWhatThePanelCannotTake(t *testing.T) {
	t.Parallel()
	s := startRW(t, remnawave.Version3)
	p := newRemnawave(t, s, nil)
	ctx := t.Context()

	_, err := p.CreateAccount(ctx, vpn.Owner{UserID: -1}, month())
	require.ErrorContains(t, err, "must be positive")
	_, err = p.CreateAccount(ctx, vpn.Owner{UserID: 1}, vpn.State{Enabled: true})
	require.ErrorContains(t, err, "no expiry", "the panel would take year 1 and expire the user at once")
	_, err = p.SetAccount(ctx, vpn.Ref{Name: vpn.AccountName("vpnbot", 1)}, vpn.State{Enabled: true})
	require.ErrorContains(t, err, "no expiry")
	require.Zero(t, s.Requests(""), "a refused call reached the panel")
}

func TestNewRemnawaveRejectsBadConfig(t *testing.T) {
	t.Parallel()
	const token = "eyJhbGciOiJIUzI1NiJ9.test-token"
	for name, cfg := range map[string]vpn.RemnawaveConfig{
		"no token":       {BaseURL: "https://panel.example.com"},
		"no scheme":      {BaseURL: "panel.example.com", Token: token},
		"bad prefix":     {BaseURL: "https://panel.example.com", Token: token, NamePrefix: "vpn.bot"},
		"long prefix":    {BaseURL: "https://panel.example.com", Token: token, NamePrefix: strings.Repeat("p", 17)},
		"page too large": {BaseURL: "https://panel.example.com", Token: token, PageSize: 1001},
		"negative page":  {BaseURL: "https://panel.example.com", Token: token, PageSize: -1},
	} {
		_, err := vpn.NewRemnawave(cfg)
		require.Error(t, err, name)
		require.NotContains(t, err.Error(), token, name)
	}
}

func TestRemnawaveLongestUsernameFitsThePanel(t *testing.T) {
	t.Parallel()
	s := startRW(t, remnawave.Version2)
	r := newRemnawave(t, s, func(c *vpn.RemnawaveConfig) { c.NamePrefix = strings.Repeat("p", 15) })
	acc, err := r.CreateAccount(t.Context(), vpn.Owner{UserID: 1<<63 - 1}, month())
	require.NoError(t, err)
	require.Len(t, s.Users(), 1)
	require.Equal(t, acc.ID, s.Users()[0].UUID)
	require.Len(t, s.Users()[0].Username, 36)

	_, err = vpn.NewRemnawave(vpn.RemnawaveConfig{BaseURL: s.URL(), Token: vpntest.RemnawaveToken, NamePrefix: strings.Repeat("p", 16)})
	require.Error(t, err, "a prefix whose account names would not fit")
}
