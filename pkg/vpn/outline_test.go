package vpn_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startOutline serves an Outline sandbox for one test.
func startOutline(t *testing.T) *outline.Server {
	t.Helper()
	s, err := outline.New(outline.Config{})
	require.NoError(t, err)
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(s.Close)
	return s
}

// newOutline is the production adapter configured from the sandbox as an
// operator would from the installer's output; edit changes the config.
func newOutline(t *testing.T, s *outline.Server, edit func(*vpn.OutlineConfig)) *vpn.Outline {
	t.Helper()
	cfg := vpn.OutlineConfig{APIURL: s.APIURL(), CertSHA256: s.CertSHA256(), Timeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	o, err := vpn.NewOutline(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, o.Close()) })
	return o
}

func period(subscriptionID int64) vpn.Period {
	return vpn.Period{SubscriptionID: subscriptionID, UserID: 7, ExpiresAt: time.Now().Add(30 * 24 * time.Hour)}
}

// secretOf is the secret path of the sandbox's API URL.
func secretOf(s *outline.Server) string {
	return s.APIURL()[strings.LastIndex(s.APIURL(), "/")+1:]
}

func TestOutlineKeyLifecycle(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, nil)
	ctx := context.Background()
	require.Equal(t, "outline", o.Name())

	acc, err := o.Create(ctx, period(42))
	require.NoError(t, err)
	require.Equal(t, "vpnbot-42", acc.ID)
	require.True(t, strings.HasPrefix(acc.URL, "ss://"), acc.URL)
	require.True(t, acc.ExpiresAt.IsZero(), "outline keys do not expire")
	key, ok := s.Key("vpnbot-42")
	require.True(t, ok)
	require.Equal(t, acc.URL, key.AccessURL, "the user gets the key the server made")
	require.Equal(t, "vpnbot-42 user 7", key.Name)

	again, err := o.Create(ctx, period(42))
	require.NoError(t, err)
	require.Equal(t, acc, again, "creating twice returns the same access")
	require.Len(t, s.Keys(), 1)

	require.NoError(t, o.Extend(ctx, acc.ID, time.Now().Add(60*24*time.Hour)))
	st, err := o.Status(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, vpn.StatusActive, st)

	require.NoError(t, o.Revoke(ctx, acc.ID))
	require.Empty(t, s.Keys(), "revoking deletes the key")
	require.NoError(t, o.Revoke(ctx, acc.ID), "revoking a missing key is not an error")
	st, err = o.Status(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, vpn.StatusMissing, st)
	require.ErrorIs(t, o.Extend(ctx, acc.ID, time.Now().Add(time.Hour)), vpn.ErrNotFound)
}

func TestOutlineListsOnlyItsOwnKeys(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, nil)
	other := newOutline(t, s, func(c *vpn.OutlineConfig) { c.NamePrefix = "shop2" })
	ctx := context.Background()

	a1, err := o.Create(ctx, period(1))
	require.NoError(t, err)
	a2, err := o.Create(ctx, period(2))
	require.NoError(t, err)
	_, err = other.Create(ctx, period(1))
	require.NoError(t, err)
	// A key made by hand in the Outline Manager.
	resp, err := s.Client().Post(s.APIURL()+"/access-keys", "application/json", nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Len(t, s.Keys(), 4)

	got, err := o.List(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []vpn.Access{a1, a2}, got)
}

func TestOutlineStatusDisabledByZeroDataLimit(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, nil)
	ctx := context.Background()
	acc, err := o.Create(ctx, period(5))
	require.NoError(t, err)

	req, err := http.NewRequest(http.MethodPut, s.APIURL()+"/access-keys/"+acc.ID+"/data-limit",
		strings.NewReader(`{"limit":{"bytes":0}}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	st, err := o.Status(ctx, acc.ID)
	require.NoError(t, err)
	require.Equal(t, vpn.StatusDisabled, st)
}

func TestOutlineCreateAfterLostReplyFindsTheKey(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, nil)
	ctx := context.Background()

	// The server makes the key but the reply is lost on the way back.
	s.Inject(outline.Fault{Route: "PUT /access-keys/{id}", ServeFirst: true, Status: http.StatusBadGateway, Times: 1})
	_, err := o.Create(ctx, period(9))
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.Len(t, s.Keys(), 1, "the panel acted before the reply was lost")

	acc, err := o.Create(ctx, period(9))
	require.NoError(t, err)
	key, _ := s.Key("vpnbot-9")
	require.Equal(t, key.AccessURL, acc.URL, "the retry returns the key made by the lost call")
	require.Len(t, s.Keys(), 1)
}

func TestOutlineDownIsUnavailable(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, nil)
	ctx := context.Background()

	s.Inject(outline.Fault{Status: http.StatusInternalServerError})
	_, err := o.Create(ctx, period(3))
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.ErrorIs(t, o.Revoke(ctx, "vpnbot-3"), vpn.ErrUnavailable)
	_, err = o.Status(ctx, "vpnbot-3")
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	_, err = o.List(ctx)
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.Empty(t, s.Keys())

	s.Close()
	_, err = o.Create(ctx, period(3))
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.NotContains(t, err.Error(), secretOf(s))
}

func TestOutlineSlowPanelTimesOut(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, func(c *vpn.OutlineConfig) { c.Timeout = 200 * time.Millisecond })

	s.Inject(outline.Fault{Latency: time.Minute})
	began := time.Now()
	_, err := o.Create(context.Background(), period(4))
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.Less(t, time.Since(began), 3*time.Second)
	require.Empty(t, s.Keys())
}

func TestOutlineCallerDeadlineIsNotUnavailable(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, nil)

	s.Inject(outline.Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := o.Create(ctx, period(4))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, vpn.ErrUnavailable, "the caller gave up, the panel did not fail")
}

func TestOutlineWrongCertificatePin(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	other := sha256.Sum256([]byte("some other certificate"))
	o := newOutline(t, s, func(c *vpn.OutlineConfig) { c.CertSHA256 = hex.EncodeToString(other[:]) })

	_, err := o.Create(context.Background(), period(1))
	require.ErrorIs(t, err, vpn.ErrUntrustedCertificate)
	require.NotErrorIs(t, err, vpn.ErrUnavailable)
	require.NotContains(t, err.Error(), secretOf(s))
	require.Zero(t, s.Requests(""), "no request reached the server")
	require.Empty(t, s.Keys())
}

func TestOutlinePinAcceptsInstallerFormats(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	pin := s.CertSHA256()
	var colons []string
	for i := 0; i < len(pin); i += 2 {
		colons = append(colons, pin[i:i+2])
	}
	for _, form := range []string{strings.ToLower(pin), strings.Join(colons, ":")} {
		o := newOutline(t, s, func(c *vpn.OutlineConfig) { c.CertSHA256 = form })
		_, err := o.List(context.Background())
		require.NoError(t, err, form)
	}
}

func TestOutlineWithoutPinNeedsATrustedCertificate(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, func(c *vpn.OutlineConfig) { c.CertSHA256 = "" })

	_, err := o.Create(context.Background(), period(1))
	require.ErrorIs(t, err, vpn.ErrUntrustedCertificate, "a self-signed certificate does not verify")
	require.Empty(t, s.Keys())
}

func TestOutlineWrongSecretPath(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	secret := "WrongSecret123"
	o := newOutline(t, s, func(c *vpn.OutlineConfig) {
		c.APIURL = strings.TrimSuffix(c.APIURL, secretOf(s)) + secret
	})
	ctx := context.Background()

	_, err := o.Create(ctx, period(1))
	require.ErrorIs(t, err, vpn.ErrUnauthorized)
	require.NotContains(t, err.Error(), secret, "the secret path never appears in errors")

	// A wrong URL must not pass for "already revoked" or "missing".
	err = o.Revoke(ctx, "vpnbot-1")
	require.ErrorIs(t, err, vpn.ErrUnauthorized)
	require.NotContains(t, err.Error(), secret)
	_, err = o.Status(ctx, "vpnbot-1")
	require.ErrorIs(t, err, vpn.ErrUnauthorized)
	require.Empty(t, s.Keys())
}

func TestNewOutlineRejectsBadConfig(t *testing.T) {
	t.Parallel()
	const secretURL = "https://203.0.113.5:41234/TopSecret_path"
	pin := strings.Repeat("ab", 32)
	for name, cfg := range map[string]vpn.OutlineConfig{
		"not https":   {APIURL: "http://203.0.113.5:41234/TopSecret_path", CertSHA256: pin},
		"not a URL":   {APIURL: "https://203.0.113.5:41234/TopSecret_path\x7f", CertSHA256: pin},
		"short pin":   {APIURL: secretURL, CertSHA256: "abcd"},
		"pin not hex": {APIURL: secretURL, CertSHA256: strings.Repeat("zz", 32)},
		"bad prefix":  {APIURL: secretURL, CertSHA256: pin, NamePrefix: "vpn bot"},
		"long prefix": {APIURL: secretURL, CertSHA256: pin, NamePrefix: strings.Repeat("p", 17)},
	} {
		_, err := vpn.NewOutline(cfg)
		require.Error(t, err, name)
		require.NotContains(t, err.Error(), "TopSecret", name)
	}
}

func TestOutlineRefusesAnInvalidPeriod(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, nil)
	_, err := o.Create(context.Background(), vpn.Period{SubscriptionID: 0})
	require.Error(t, err)
	require.Zero(t, s.Requests(""))
}

func TestOutlineContract(t *testing.T) {
	t.Parallel()
	vpntest.Contract(t, vpntest.OutlineHarness())
}
