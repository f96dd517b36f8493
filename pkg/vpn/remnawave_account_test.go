package vpn_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

func TestRemnawaveContract(t *testing.T) {
	t.Run("2.x", func(t *testing.T) { vpntest.Contract(t, vpntest.RemnawaveHarness(remnawave.Version2)) })
	t.Run("3.x", func(t *testing.T) { vpntest.Contract(t, vpntest.RemnawaveHarness(remnawave.Version3)) })
}

// rwVersions are the sandbox's API versions, by subtest name.
var rwVersions = map[string]int{"2.x": remnawave.Version2, "3.x": remnawave.Version3}

func startRW(t *testing.T, version int) *remnawave.Server {
	t.Helper()
	return vpntest.StartRemnawaveServer(t, remnawave.Config{Version: version})
}

func TestRemnawaveAsksThePanelItsVersionOnce(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			p := vpntest.RemnawavePanel(t, s, "", 0)
			ctx := t.Context()
			_, err := p.Accounts(ctx, "")
			require.NoError(t, err)
			require.Equal(t, 1, s.Requests("GET /api/system/metadata"), "the first use asks the version")
			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 1}, month())
			require.NoError(t, err)
			u, ok := s.User(a.Name)
			require.True(t, ok)
			if version == remnawave.Version3 {
				require.Equal(t, strconv.FormatInt(u.ID, 10), a.ID, "3.x accounts are known by their numeric id")
			} else {
				require.Equal(t, u.UUID, a.ID, "2.x accounts are known by their uuid")
			}
			for range 3 {
				_, err := p.Accounts(ctx, "")
				require.NoError(t, err)
				_, err = p.Account(ctx, a.Ref())
				require.NoError(t, err)
			}
			require.Equal(t, 1, s.Requests("GET /api/system/metadata"), "the version is cached")
			key := "{uuid}"
			if version == remnawave.Version3 {
				key = "{id}"
			}
			require.Equal(t, 3, s.Requests("GET /api/users/"+key), "reads went by the id of the panel's version")
		})
	}
}

func TestRemnawaveMetadataFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	s := startRW(t, remnawave.Version3)
	p := vpntest.RemnawavePanel(t, s, "", 0)
	s.Inject(remnawave.Fault{Route: "GET /api/system/metadata", Status: http.StatusBadGateway, Times: 1})
	_, err := p.Accounts(t.Context(), "")
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	page, err := p.Accounts(t.Context(), "")
	require.NoError(t, err, "a failed detection is not cached")
	require.Empty(t, page.Accounts)
	require.Equal(t, 2, s.Requests("GET /api/system/metadata"))
}

func TestRemnawaveFollowsAnUpgradeTo3(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v2 := remnawave.New(remnawave.Config{Token: vpntest.RemnawaveToken, StateDir: dir})
	require.NoError(t, v2.Start("127.0.0.1:0"))
	addr := strings.TrimPrefix(v2.URL(), "http://")
	p := vpntest.RemnawavePanel(t, v2, "", 0)
	ctx := t.Context()
	old, err := p.CreateAccount(ctx, vpn.Owner{UserID: 5}, month())
	require.NoError(t, err)
	_, err = p.Accounts(ctx, "")
	require.NoError(t, err)
	v2.Close()

	// The same panel, its users kept, comes back as 3.x at the same address.
	v3 := remnawave.New(remnawave.Config{Token: vpntest.RemnawaveToken, StateDir: dir, Version: remnawave.Version3})
	require.NoError(t, v3.Start(addr))
	t.Cleanup(v3.Close)

	got, err := p.Account(ctx, old.Ref())
	require.NoError(t, err, "the 2.x uuid is rejected by 3.x; the name finds the account")
	require.Equal(t, 1, v3.Requests("GET /api/users/{id}"), "the cached 2.x uuid was tried, and refused")
	u, ok := v3.User(old.Name)
	require.True(t, ok)
	require.Equal(t, strconv.FormatInt(u.ID, 10), got.ID, "the account is now known by its 3.x id")
	require.Equal(t, old.URL, got.URL, "the upgrade kept the user's link")
	require.True(t, vpntest.RemnawaveLinkWorks(t, got.URL))

	page, err := p.Accounts(ctx, "")
	require.NoError(t, err)
	require.Len(t, page.Accounts, 1)
	require.Equal(t, got.ID, page.Accounts[0].ID)
	require.Equal(t, 1, v3.Requests("GET /api/users/stream"), "listing moved to 3.x's keyset pages")
}

func TestRemnawave2xRefOn3xIsResolvedByName(t *testing.T) {
	t.Parallel()
	s := startRW(t, remnawave.Version3)
	p := vpntest.RemnawavePanel(t, s, "", 0)
	ctx := t.Context()
	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 8}, month())
	require.NoError(t, err)
	recorded := vpn.Ref{ID: "0b6f4b1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b", Name: a.Name} // as a 2.x panel gave it

	got, err := p.Account(ctx, recorded)
	require.NoError(t, err)
	require.Equal(t, a.ID, got.ID)
	require.Zero(t, s.Requests("GET /api/users/{id}"), "a uuid is never sent as a 3.x id")

	off := month()
	off.Enabled = false
	set, err := p.SetAccount(ctx, recorded, off)
	require.NoError(t, err)
	require.False(t, set.Enabled)
	rotated, err := p.RotateAccount(ctx, recorded)
	require.NoError(t, err)
	require.NotEqual(t, a.URL, rotated.URL)
	require.NoError(t, p.DeleteAccount(ctx, recorded))
	require.Zero(t, s.Accounts())

	_, err = p.Account(ctx, vpn.Ref{ID: recorded.ID})
	require.ErrorIs(t, err, vpn.ErrNotFound, "a uuid without a name cannot be resolved on 3.x")
}

func TestRemnawaveCreateAfterALostAnswerAdopts(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			p := vpntest.RemnawavePanel(t, s, "", 0)
			ctx := t.Context()
			s.Inject(remnawave.Fault{Route: "POST /api/users", ServeFirst: true, Status: http.StatusBadGateway, Times: 1})
			_, err := p.CreateAccount(ctx, vpn.Owner{UserID: 3}, month())
			require.ErrorIs(t, err, vpn.ErrUnavailable)
			require.Equal(t, 1, s.Accounts(), "the panel acted before its answer was lost")

			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 3}, month())
			require.NoError(t, err)
			u, _ := s.User(a.Name)
			require.Equal(t, u.ShortUUID, a.URL[strings.LastIndex(a.URL, "/")+1:], "the retry returns the user the lost call made")
			require.Equal(t, 1, s.Requests("POST /api/users"), "the retry found it without creating")
		})
	}
}

func TestRemnawaveUsernameRaceIsAdoptedOnce(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			p1 := vpntest.RemnawavePanel(t, s, "", 0)
			p2 := vpntest.RemnawavePanel(t, s, "", 0)
			const lookup = "GET /api/users/by-username/{username}"

			// Both replicas look the user up and find nothing before either creates it.
			s.Inject(remnawave.Fault{Route: lookup, ServeFirst: true, Hang: true, Times: 2})
			var wg sync.WaitGroup
			got := make([]vpn.Account, 2)
			errs := make([]error, 2)
			for i, p := range []*vpn.Remnawave{p1, p2} {
				wg.Go(func() { got[i], errs[i] = p.CreateAccount(t.Context(), vpn.Owner{UserID: 77}, month()) })
			}
			require.Eventually(t, func() bool { return s.Requests(lookup) == 2 }, 5*time.Second, 5*time.Millisecond)
			s.ClearFaults()
			wg.Wait()

			require.NoError(t, errs[0])
			require.NoError(t, errs[1])
			require.Equal(t, got[0], got[1], "both replicas return the same account")
			require.Equal(t, 1, s.Accounts())
			require.Equal(t, 2, s.Requests("POST /api/users"), "the loser's create was refused as taken")
			require.Equal(t, 3, s.Requests(lookup), "the loser read the winner's once")
		})
	}
}

func TestRemnawaveTakenButUnreadableIsAnErrorNotALoop(t *testing.T) {
	t.Parallel()
	s := startRW(t, remnawave.Version3)
	p := vpntest.RemnawavePanel(t, s, "", 0)
	// The panel says the name is taken, yet has no such user to read.
	s.Inject(remnawave.Fault{Route: "POST /api/users", Status: http.StatusConflict, Times: 1})
	_, err := p.CreateAccount(t.Context(), vpn.Owner{UserID: 4}, month())
	require.ErrorIs(t, err, vpn.ErrNotFound)
	require.Equal(t, 1, s.Requests("POST /api/users"))
	require.Equal(t, 2, s.Requests("GET /api/users/by-username/{username}"))
}

func TestRemnawaveStreamPages(t *testing.T) {
	t.Parallel()
	s := startRW(t, remnawave.Version3)
	p := vpntest.RemnawavePanel(t, s, "", 2)
	other := vpntest.RemnawavePanel(t, s, "other", 0)
	ctx := t.Context()
	var want []string
	for u := int64(1); u <= 5; u++ {
		a, err := p.CreateAccount(ctx, vpn.Owner{UserID: u}, month())
		require.NoError(t, err)
		want = append(want, a.ID)
		_, err = other.CreateAccount(ctx, vpn.Owner{UserID: u}, month())
		require.NoError(t, err)
	}

	var got, cursors []string
	for cursor := ""; ; {
		page, err := p.Accounts(ctx, cursor)
		require.NoError(t, err)
		for _, a := range page.Accounts {
			got = append(got, a.ID)
		}
		if page.Next == "" {
			break
		}
		cursors = append(cursors, page.Next)
		cursor = page.Next
	}
	require.Equal(t, want, got, "every account once, in id order")
	require.Len(t, cursors, 4, "10 users at 2 a page: 5 pages")
	require.Equal(t, 5, s.Requests("GET /api/users/stream"))
	require.Zero(t, s.Requests("GET /api/users"), "3.x lists by keyset, not offset")

	_, err := p.Accounts(ctx, "2:4")
	require.Error(t, err, "a cursor of a 2.x listing")
}

func TestRemnawavePanelErrorsKeepTheTokenOut(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			p := vpntest.RemnawavePanel(t, s, "", 0)
			ctx := t.Context()
			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 2}, month())
			require.NoError(t, err)

			s.Inject(remnawave.Fault{Status: http.StatusTooManyRequests})
			_, err = p.SetAccount(ctx, a.Ref(), month())
			require.ErrorIs(t, err, vpn.ErrUnavailable)
			require.NotContains(t, err.Error(), vpntest.RemnawaveToken)
			require.ErrorIs(t, p.DeleteAccount(ctx, a.Ref()), vpn.ErrUnavailable)
			s.ClearFaults()

			_, err = p.SetAccount(ctx, vpn.Ref{Name: vpn.AccountName("vpnbot", 99)}, month())
			require.ErrorIs(t, err, vpn.ErrNotFound)
			_, err = p.RotateAccount(ctx, vpn.Ref{Name: vpn.AccountName("vpnbot", 99)})
			require.ErrorIs(t, err, vpn.ErrNotFound)

			s.Close()
			_, err = p.Account(ctx, a.Ref())
			require.ErrorIs(t, err, vpn.ErrUnavailable)
		})
	}
}

func TestRemnawaveBringsBackAnExpiredAccount(t *testing.T) {
	t.Parallel()
	for name, version := range rwVersions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startRW(t, version)
			p := vpntest.RemnawavePanel(t, s, "", 0)
			ctx := t.Context()
			a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 6}, month())
			require.NoError(t, err)
			require.True(t, s.DriftExpiry(a.Name, time.Now().Add(-time.Hour)))
			read, err := p.Account(ctx, a.Ref())
			require.NoError(t, err)
			require.False(t, read.Enabled, "an expired account does not work")
			require.False(t, vpntest.RemnawaveLinkWorks(t, a.URL))

			require.True(t, s.DriftDisable(a.Name))
			renewed, err := p.SetAccount(ctx, a.Ref(), month())
			require.NoError(t, err)
			require.True(t, renewed.Enabled)
			require.Equal(t, a.URL, renewed.URL)
			require.True(t, vpntest.RemnawaveLinkWorks(t, a.URL))
		})
	}
}
