package vpn_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

var enabled = vpn.State{Enabled: true}

func TestOutlineAccountIsAKeyNamedAfterTheUser(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	p := vpntest.OutlinePanel(t, s, "", 0)
	ctx := context.Background()
	require.Equal(t, vpn.KindOutline, p.Kind())

	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 42, Note: "Alice"}, vpn.State{Enabled: true, DataLimitBytes: 5 << 30})
	require.NoError(t, err)
	require.Equal(t, vpn.Account{Name: "vpnbot_u42", ID: "vpnbot_u42", URL: a.URL, Enabled: true, DataLimitBytes: 5 << 30}, a)
	k, ok := s.Key("vpnbot_u42")
	require.True(t, ok)
	require.Equal(t, "vpnbot_u42", k.Name)
	require.Equal(t, k.AccessURL, a.URL)
	require.Equal(t, int64(5<<30), *k.DataLimit)
	require.Equal(t, 1, s.Requests("GET /metrics/transfer"), "whether the new key is blocked")

	off, err := p.SetAccount(ctx, a.Ref(), vpn.State{DataLimitBytes: 5 << 30})
	require.NoError(t, err)
	require.False(t, off.Enabled)
	k, _ = s.Key("vpnbot_u42")
	require.Equal(t, int64(0), *k.DataLimit, "disabled is a data limit of 0 bytes")
	require.False(t, s.KeyWorks(a.URL))

	on, err := p.SetAccount(ctx, a.Ref(), enabled)
	require.NoError(t, err)
	require.True(t, on.Enabled)
	k, _ = s.Key("vpnbot_u42")
	require.Nil(t, k.DataLimit, "enabled without a limit is no limit")
	require.True(t, s.KeyWorks(a.URL))
	require.Equal(t, 1, s.Requests("GET /metrics/transfer"), "traffic was read for a key no limit can block")
}

func TestOutlineAccountOverItsLimitIsDisabled(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	p := vpntest.OutlinePanel(t, s, "", 0)
	ctx := context.Background()
	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 3}, vpn.State{Enabled: true, DataLimitBytes: 1000})
	require.NoError(t, err)
	require.True(t, s.Transfer(a.Name, 1000))
	require.False(t, s.KeyWorks(a.URL), "the sandbox did not block the key")

	got, err := p.Account(ctx, a.Ref())
	require.NoError(t, err)
	require.False(t, got.Enabled, "a key over its limit does not work")
	require.Equal(t, int64(1000), got.DataLimitBytes)
	page, err := p.Accounts(ctx, "")
	require.NoError(t, err)
	require.Len(t, page.Accounts, 1)
	require.False(t, page.Accounts[0].Enabled)

	more, err := p.SetAccount(ctx, a.Ref(), vpn.State{Enabled: true, DataLimitBytes: 2000})
	require.NoError(t, err)
	require.True(t, more.Enabled, "a higher limit unblocks the key")
	require.True(t, s.KeyWorks(a.URL))
}

func TestOutlineRotationKeepsTheState(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	p := vpntest.OutlinePanel(t, s, "", 0)
	ctx := context.Background()
	limited, err := p.CreateAccount(ctx, vpn.Owner{UserID: 1}, vpn.State{Enabled: true, DataLimitBytes: 7 << 20})
	require.NoError(t, err)
	disabled, err := p.CreateAccount(ctx, vpn.Owner{UserID: 2}, vpn.State{})
	require.NoError(t, err)
	require.False(t, disabled.Enabled)

	for _, a := range []vpn.Account{limited, disabled} {
		b, err := p.RotateAccount(ctx, vpn.Ref{Name: a.Name})
		require.NoError(t, err)
		require.NotEqual(t, a.URL, b.URL)
		a.URL = b.URL
		require.Equal(t, a, b, "rotation changed more than the URL")
		require.Equal(t, a.Enabled, s.KeyWorks(b.URL))
	}
}

func TestOutlineRotationCutShortLeavesNoKeyToRotate(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	p := vpntest.OutlinePanel(t, s, "", 0)
	ctx := context.Background()
	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 8}, enabled)
	require.NoError(t, err)

	// The delete is done, making the key again fails.
	s.Inject(outline.Fault{Route: "PUT /access-keys/{id}", Status: http.StatusServiceUnavailable, Times: 1})
	_, err = p.RotateAccount(ctx, a.Ref())
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	_, err = p.RotateAccount(ctx, a.Ref())
	require.ErrorIs(t, err, vpn.ErrNotFound)
	b, err := p.CreateAccount(ctx, vpn.Owner{UserID: 8}, enabled)
	require.NoError(t, err, "the account is made again")
	require.NotEqual(t, a.URL, b.URL)
	require.False(t, s.KeyWorks(a.URL))
	require.True(t, s.KeyWorks(b.URL))
}

func TestOutlineCreateAccountAfterLostAnswerAdoptsTheKey(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	p := vpntest.OutlinePanel(t, s, "", 0)
	ctx := context.Background()

	s.Inject(outline.Fault{Route: "PUT /access-keys/{id}", ServeFirst: true, Status: http.StatusBadGateway, Times: 1})
	_, err := p.CreateAccount(ctx, vpn.Owner{UserID: 9}, enabled)
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.Equal(t, 1, s.Accounts(), "the panel acted before the answer was lost")

	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 9}, enabled)
	require.NoError(t, err)
	k, _ := s.Key("vpnbot_u9")
	require.Equal(t, k.AccessURL, a.URL, "the retry returns the key the lost call made")
	require.Equal(t, 1, s.Accounts())
}

func TestOutlineAccountsListOnlyThisBotsAccounts(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	p := vpntest.OutlinePanel(t, s, "", 2)
	ctx := context.Background()
	for _, u := range []int64{3, 1, 2} {
		_, err := p.CreateAccount(ctx, vpn.Owner{UserID: u}, enabled)
		require.NoError(t, err)
	}
	// A key of the per-period names older versions made, one made by hand,
	// one of a name that only looks like an account.
	status, _ := putKey(t, s, "/access-keys/vpnbot-5", http.MethodPut)
	require.Equal(t, http.StatusCreated, status)
	status, _ = putKey(t, s, "/access-keys", http.MethodPost)
	require.Equal(t, http.StatusCreated, status)
	status, _ = putKey(t, s, "/access-keys/vpnbot_u07", http.MethodPut)
	require.Equal(t, http.StatusCreated, status)

	first, err := p.Accounts(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []string{"vpnbot_u1", "vpnbot_u2"}, names(first))
	require.Equal(t, "vpnbot_u2", first.Next)
	last, err := p.Accounts(ctx, first.Next)
	require.NoError(t, err)
	require.Equal(t, []string{"vpnbot_u3"}, names(last))
	require.Empty(t, last.Next)
}

// The server lists every key at once, so by default every account comes in
// one page, from one read of the list, however many there are.
func TestOutlineAccountsComeInOnePageByDefault(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	p := vpntest.OutlinePanel(t, s, "", 0)
	const n = 1200
	keys := make([]outline.Key, n)
	for i := range keys {
		keys[i].ID = vpn.AccountName(vpn.DefaultNamePrefix, int64(i+1))
	}
	_, err := s.Seed(keys)
	require.NoError(t, err)

	page, err := p.Accounts(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, page.Accounts, n)
	require.Empty(t, page.Next)
	require.Equal(t, 1, s.Requests(""), "one read of the list")
}

func names(p vpn.Page) []string {
	var out []string
	for _, a := range p.Accounts {
		out = append(out, a.Name)
	}
	return out
}

// putKey calls the sandbox's API directly, as an operator's tool would.
func putKey(t *testing.T, s *outline.Server, path, method string) (int, error) {
	t.Helper()
	req, err := http.NewRequest(method, s.APIURL()+path, nil)
	require.NoError(t, err)
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	return resp.StatusCode, resp.Body.Close()
}

func TestOutlineAccountErrorKinds(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	p := vpntest.OutlinePanel(t, s, "", 0)
	ctx := context.Background()
	a, err := p.CreateAccount(ctx, vpn.Owner{UserID: 1}, vpn.State{Enabled: true, DataLimitBytes: 100})
	require.NoError(t, err)

	require.True(t, s.DriftDelete(a.Name))
	_, err = p.Account(ctx, a.Ref())
	require.ErrorIs(t, err, vpn.ErrNotFound)
	_, err = p.SetAccount(ctx, a.Ref(), enabled)
	require.ErrorIs(t, err, vpn.ErrNotFound)
	require.NoError(t, p.DeleteAccount(ctx, a.Ref()))

	a, err = p.CreateAccount(ctx, vpn.Owner{UserID: 1}, vpn.State{Enabled: true, DataLimitBytes: 100})
	require.NoError(t, err)
	for _, status := range []int{http.StatusInternalServerError, http.StatusTooManyRequests} {
		s.Inject(outline.Fault{Status: status})
		_, err = p.CreateAccount(ctx, vpn.Owner{UserID: 2}, enabled)
		require.ErrorIs(t, err, vpn.ErrUnavailable, status)
		_, err = p.Accounts(ctx, "")
		require.ErrorIs(t, err, vpn.ErrUnavailable, status)
		require.ErrorIs(t, p.DeleteAccount(ctx, a.Ref()), vpn.ErrUnavailable, status)
		s.ClearFaults()
	}
	s.Inject(outline.Fault{Route: "GET /metrics/transfer", Status: http.StatusServiceUnavailable})
	_, err = p.Account(ctx, a.Ref())
	require.ErrorIs(t, err, vpn.ErrUnavailable, "a limited key whose traffic cannot be read")
	s.ClearFaults()

	secret := secretOf(s)
	wrong := newOutline(t, s, func(c *vpn.OutlineConfig) { c.APIURL = strings.TrimSuffix(c.APIURL, secret) + "Wrong" + secret })
	for _, err := range []error{
		func() error { _, err := wrong.Account(ctx, a.Ref()); return err }(),
		wrong.DeleteAccount(ctx, a.Ref()),
		func() error { _, err := wrong.RotateAccount(ctx, a.Ref()); return err }(),
	} {
		require.ErrorIs(t, err, vpn.ErrUnauthorized)
		require.NotContains(t, err.Error(), secret)
	}
	require.True(t, s.KeyWorks(a.URL), "a wrong API URL passed a delete or a rotation for done")

	s.Close()
	_, err = p.Account(ctx, a.Ref())
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.NotContains(t, err.Error(), secret)
}

func TestNewOutlinePanelConfig(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	_, err := vpn.NewOutline(vpn.OutlineConfig{APIURL: s.APIURL(), CertSHA256: s.CertSHA256(), NamePrefix: "bad prefix"})
	require.Error(t, err)
	p := vpntest.OutlinePanel(t, s, "shop-2", 0)
	_, err = p.CreateAccount(context.Background(), vpn.Owner{UserID: -1}, enabled)
	require.Error(t, err)
	a, err := p.CreateAccount(context.Background(), vpn.Owner{UserID: 77}, enabled)
	require.NoError(t, err)
	require.Equal(t, "shop-2_u77", a.Name)
	require.Equal(t, 1, s.Requests(""), "the refused owner reached the panel")
}
