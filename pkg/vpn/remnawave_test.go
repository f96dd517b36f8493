package vpn_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

const (
	rwToken = "eyJhbGciOiJIUzI1NiJ9.test-token"
	squad   = "1b5b6c1e-9a3e-4a8f-8b0e-2f1d3c4b5a69"
)

// startRemnawave serves a Remnawave sandbox for one test.
func startRemnawave(t *testing.T) *remnawave.Server {
	t.Helper()
	s := remnawave.New(remnawave.Config{Token: rwToken, SubscriptionBaseURL: "https://sub.example.com"})
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(s.Close)
	return s
}

// newRemnawave is the production adapter pointed at the sandbox; edit
// changes the config.
func newRemnawave(t *testing.T, s *remnawave.Server, edit func(*vpn.RemnawaveConfig)) *vpn.Remnawave {
	t.Helper()
	cfg := vpn.RemnawaveConfig{BaseURL: s.URL(), Token: rwToken, Timeout: 5 * time.Second, SquadUUIDs: []string{squad}}
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
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+rwToken)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

func TestRemnawaveUserLifecycle(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	r := newRemnawave(t, s, nil)
	ctx := context.Background()
	require.Equal(t, "remnawave", r.Name())
	p := period(42)

	acc, err := r.Create(ctx, p)
	require.NoError(t, err)
	u, ok := s.User("vpnbot_42")
	require.True(t, ok)
	require.Equal(t, u.UUID, acc.ID)
	require.Equal(t, "https://sub.example.com/"+u.ShortUUID, acc.URL, "the user gets the panel's subscription URL")
	require.Equal(t, u.SubscriptionURL, acc.URL)
	require.True(t, p.ExpiresAt.Truncate(time.Millisecond).Equal(acc.ExpiresAt), "%v != %v", p.ExpiresAt, acc.ExpiresAt)
	require.True(t, p.ExpiresAt.Truncate(time.Millisecond).Equal(u.ExpireAt))
	require.Equal(t, remnawave.StatusActive, u.Status)
	require.Equal(t, []string{squad}, u.ActiveInternalSquads)
	require.Zero(t, u.TrafficLimitBytes, "unlimited traffic")

	again, err := r.Create(ctx, p)
	require.NoError(t, err)
	require.Equal(t, acc.ID, again.ID, "creating twice returns the same access")
	require.Equal(t, acc.URL, again.URL)
	require.Len(t, s.Users(), 1)

	later := p.ExpiresAt.Add(30 * 24 * time.Hour)
	require.NoError(t, r.Extend(ctx, acc.ID, later))
	u, _ = s.User("vpnbot_42")
	require.True(t, later.Truncate(time.Millisecond).Equal(u.ExpireAt), "extend moves the panel's expireAt")
	st, err := r.Status(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, vpn.StatusActive, st)

	require.NoError(t, r.Revoke(ctx, acc.ID))
	require.Empty(t, s.Users(), "revoking deletes the user")
	require.NoError(t, r.Revoke(ctx, acc.ID), "revoking a missing user is not an error")
	st, err = r.Status(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, vpn.StatusMissing, st)
	require.ErrorIs(t, r.Extend(ctx, acc.ID, later), vpn.ErrNotFound)
}

func TestRemnawaveStatusFollowsThePanel(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	r := newRemnawave(t, s, nil)
	ctx := context.Background()

	acc, err := r.Create(ctx, period(1))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, panelCall(t, s, http.MethodPost, "/api/users/"+acc.ID+"/actions/disable", ""))
	st, err := r.Status(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, vpn.StatusDisabled, st, "an operator disabled the user")
	require.NoError(t, r.Extend(ctx, acc.ID, time.Now().Add(time.Hour)))
	st, err = r.Status(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, vpn.StatusActive, st, "a paid extension works again")

	expired := vpn.Period{SubscriptionID: 2, UserID: 7, ExpiresAt: time.Now().Add(-time.Minute)}
	acc, err = r.Create(ctx, expired)
	require.NoError(t, err)
	st, err = r.Status(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, vpn.StatusDisabled, st, "the panel expired it")
	require.NoError(t, r.Extend(ctx, acc.ID, time.Now().Add(time.Hour)))
	st, err = r.Status(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, vpn.StatusActive, st)

	err = r.Extend(ctx, acc.ID, time.Now().Add(-time.Hour))
	require.Error(t, err, "the panel refuses an expiry in the past")
	require.NotErrorIs(t, err, vpn.ErrUnavailable)
	require.Contains(t, err.Error(), "cannot be in the past")
}

func TestRemnawaveCreateAfterLostReplyFindsTheUser(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	r := newRemnawave(t, s, nil)
	ctx := context.Background()

	s.Inject(remnawave.Fault{Route: "POST /api/users", ServeFirst: true, Status: http.StatusBadGateway, Times: 1})
	_, err := r.Create(ctx, period(9))
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.Len(t, s.Users(), 1, "the panel acted before the reply was lost")

	acc, err := r.Create(ctx, period(9))
	require.NoError(t, err)
	require.Equal(t, s.Users()[0].UUID, acc.ID, "the retry returns the user made by the lost call")
	require.Equal(t, 1, s.Requests("POST /api/users"), "the retry found it without creating")
}

func TestRemnawaveRacingCreatesMakeOneUser(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	r1 := newRemnawave(t, s, nil)
	r2 := newRemnawave(t, s, nil)
	const lookup = "GET /api/users/by-username/{username}"

	// Both replicas look the user up and find nothing before either creates it.
	s.Inject(remnawave.Fault{Route: lookup, ServeFirst: true, Hang: true, Times: 2})
	var wg sync.WaitGroup
	got := make([]vpn.Access, 2)
	errs := make([]error, 2)
	for i, r := range []*vpn.Remnawave{r1, r2} {
		wg.Go(func() { got[i], errs[i] = r.Create(context.Background(), period(77)) })
	}
	require.Eventually(t, func() bool { return s.Requests(lookup) == 2 }, 5*time.Second, 5*time.Millisecond)
	s.ClearFaults()
	wg.Wait()

	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, got[0], got[1], "both replicas return the same access")
	require.Len(t, s.Users(), 1)
	require.Equal(t, 2, s.Requests("POST /api/users"), "the loser's create was refused as a duplicate")
}

func TestRemnawaveListsOnlyItsOwnUsers(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	r := newRemnawave(t, s, nil)
	ctx := context.Background()

	var want []vpn.Access
	for id := int64(1); id <= 3; id++ {
		acc, err := r.Create(ctx, period(id))
		require.NoError(t, err)
		want = append(want, acc)
	}
	require.Equal(t, http.StatusCreated, panelCall(t, s, http.MethodPost, "/api/users",
		`{"username":"manual_user","expireAt":"2031-01-01T00:00:00.000Z"}`))
	require.Equal(t, http.StatusCreated, panelCall(t, s, http.MethodPost, "/api/users",
		`{"username":"vpnbot_x1","expireAt":"2031-01-01T00:00:00.000Z"}`))

	got, err := r.List(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, want, got)
}

func TestRemnawaveDownIsUnavailable(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	r := newRemnawave(t, s, nil)
	ctx := context.Background()

	s.Inject(remnawave.Fault{Status: http.StatusServiceUnavailable})
	_, err := r.Create(ctx, period(3))
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.ErrorIs(t, r.Extend(ctx, squad, time.Now().Add(time.Hour)), vpn.ErrUnavailable)
	require.ErrorIs(t, r.Revoke(ctx, squad), vpn.ErrUnavailable)
	_, err = r.List(ctx)
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	s.ClearFaults()
	require.Empty(t, s.Users())

	s.Close()
	_, err = r.Create(ctx, period(3))
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	_, err = r.Status(ctx, squad)
	require.ErrorIs(t, err, vpn.ErrUnavailable)
}

func TestRemnawaveSlowPanelTimesOut(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	r := newRemnawave(t, s, func(c *vpn.RemnawaveConfig) { c.Timeout = 200 * time.Millisecond })

	s.Inject(remnawave.Fault{Latency: time.Minute})
	began := time.Now()
	_, err := r.Create(context.Background(), period(4))
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.Less(t, time.Since(began), 3*time.Second)
	s.ClearFaults()
	require.Empty(t, s.Users())
}

func TestRemnawaveWrongToken(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	const wrong = "eyJhbGciOiJIUzI1NiJ9.stolen-or-stale"
	r := newRemnawave(t, s, func(c *vpn.RemnawaveConfig) { c.Token = wrong })
	ctx := context.Background()

	_, err := r.Create(ctx, period(1))
	require.ErrorIs(t, err, vpn.ErrUnauthorized)
	require.NotErrorIs(t, err, vpn.ErrUnavailable, "retrying will not fix a wrong token")
	require.NotContains(t, err.Error(), wrong)
	require.NotContains(t, err.Error(), "stolen")
	require.ErrorIs(t, r.Revoke(ctx, squad), vpn.ErrUnauthorized)
	require.Empty(t, s.Users())
}

func TestRemnawaveWrongBaseURLIsNotMissing(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	r := newRemnawave(t, s, func(c *vpn.RemnawaveConfig) { c.BaseURL += "/panel" })
	ctx := context.Background()

	require.Error(t, r.Revoke(ctx, squad), "a 404 from a wrong URL is not an already-deleted user")
	_, err := r.Status(ctx, squad)
	require.Error(t, err)
	_, err = r.Create(ctx, period(1))
	require.Error(t, err)
	require.Empty(t, s.Users())
}

func TestNewRemnawaveRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]vpn.RemnawaveConfig{
		"no token":    {BaseURL: "https://panel.example.com"},
		"no scheme":   {BaseURL: "panel.example.com", Token: rwToken},
		"bad prefix":  {BaseURL: "https://panel.example.com", Token: rwToken, NamePrefix: "vpn.bot"},
		"long prefix": {BaseURL: "https://panel.example.com", Token: rwToken, NamePrefix: strings.Repeat("p", 17)},
	} {
		_, err := vpn.NewRemnawave(cfg)
		require.Error(t, err, name)
		require.NotContains(t, err.Error(), rwToken, name)
	}
}

func TestRemnawaveLongestUsernameFitsThePanel(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	r := newRemnawave(t, s, func(c *vpn.RemnawaveConfig) { c.NamePrefix = strings.Repeat("p", 15) })
	acc, err := r.CreateAccount(context.Background(), vpn.Owner{UserID: 1<<63 - 1}, vpn.State{
		Enabled: true, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Len(t, s.Users(), 1)
	require.Equal(t, acc.ID, s.Users()[0].UUID)
	require.Len(t, s.Users()[0].Username, 36)

	_, err = vpn.NewRemnawave(vpn.RemnawaveConfig{BaseURL: s.URL(), Token: rwToken, NamePrefix: strings.Repeat("p", 16)})
	require.Error(t, err, "a prefix whose account names would not fit")
}

func TestRemnawaveRefusesAnInvalidPeriod(t *testing.T) {
	t.Parallel()
	s := startRemnawave(t)
	r := newRemnawave(t, s, nil)
	for _, p := range []vpn.Period{{SubscriptionID: -1, ExpiresAt: time.Now()}, {SubscriptionID: 1}} {
		_, err := r.Create(context.Background(), p)
		require.Error(t, err)
	}
	require.Zero(t, s.Requests(""), "nothing reached the panel")
}
