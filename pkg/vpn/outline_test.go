package vpn_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// secretOf is the secret path of the sandbox's API URL.
func secretOf(s *outline.Server) string {
	return s.APIURL()[strings.LastIndex(s.APIURL(), "/")+1:]
}

// panelCalls calls every method of p for the account of user 1, returning
// each call's error by method name.
func panelCalls(ctx context.Context, p vpn.Panel, want vpn.State) map[string]error {
	ref := vpn.Ref{Name: vpn.AccountName(vpn.DefaultNamePrefix, 1)}
	errs := map[string]error{}
	_, errs["CreateAccount"] = p.CreateAccount(ctx, vpn.Owner{UserID: 1}, want)
	_, errs["Account"] = p.Account(ctx, ref)
	_, errs["SetAccount"] = p.SetAccount(ctx, ref, want)
	_, errs["RotateAccount"] = p.RotateAccount(ctx, ref)
	errs["DeleteAccount"] = p.DeleteAccount(ctx, ref)
	_, errs["Accounts"] = p.Accounts(ctx, "")
	return errs
}

func TestOutlineContract(t *testing.T) {
	t.Parallel()
	vpntest.Contract(t, vpntest.OutlineHarness())
}

func TestOutlineSlowPanelTimesOut(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, func(c *vpn.OutlineConfig) { c.Timeout = 200 * time.Millisecond })

	// Without the timeout the call would wait out the minute and succeed.
	s.Inject(outline.Fault{Latency: time.Minute})
	_, err := o.CreateAccount(t.Context(), vpn.Owner{UserID: 4}, enabled)
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	require.ErrorContains(t, err, "no answer within 200ms")
	require.Zero(t, s.Accounts())
}

func TestOutlineCallerDeadlineIsNotUnavailable(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, nil)

	s.Inject(outline.Fault{Hang: true})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := o.CreateAccount(ctx, vpn.Owner{UserID: 4}, enabled)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, vpn.ErrUnavailable, "the caller gave up, the panel did not fail")
}

func TestOutlineWrongCertificatePin(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	other := sha256.Sum256([]byte("some other certificate"))
	o := newOutline(t, s, func(c *vpn.OutlineConfig) { c.CertSHA256 = hex.EncodeToString(other[:]) })

	for method, err := range panelCalls(t.Context(), o, enabled) {
		require.ErrorIs(t, err, vpn.ErrUntrustedCertificate, method)
		require.NotErrorIs(t, err, vpn.ErrUnavailable, "%s: retrying will not fix the pin", method)
		require.ErrorContains(t, err, "not the configured CertSHA256", method)
		require.NotContains(t, err.Error(), secretOf(s), method)
	}
	require.Zero(t, s.Requests(""), "a request reached the server past a certificate it should not trust")
}

func TestOutlinePinAcceptsInstallerFormats(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	pin := s.CertSHA256()
	var colons []string
	for i := 0; i < len(pin); i += 2 {
		colons = append(colons, pin[i:i+2])
	}
	for _, form := range []string{strings.ToUpper(pin), strings.ToLower(pin), strings.Join(colons, ":")} {
		o := newOutline(t, s, func(c *vpn.OutlineConfig) { c.CertSHA256 = form })
		_, err := o.Accounts(t.Context(), "")
		require.NoError(t, err, form)
	}
}

func TestOutlineWithoutPinNeedsATrustedCertificate(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	o := newOutline(t, s, func(c *vpn.OutlineConfig) { c.CertSHA256 = "" })

	_, err := o.CreateAccount(t.Context(), vpn.Owner{UserID: 1}, enabled)
	require.ErrorIs(t, err, vpn.ErrUntrustedCertificate, "a self-signed certificate does not verify")
	require.Zero(t, s.Accounts())
}

func TestOutlineWrongSecretPathFailsEveryCall(t *testing.T) {
	t.Parallel()
	s := startOutline(t)
	a, err := newOutline(t, s, nil).CreateAccount(t.Context(), vpn.Owner{UserID: 1}, enabled)
	require.NoError(t, err)
	const secret = "WrongSecret123"
	o := newOutline(t, s, func(c *vpn.OutlineConfig) {
		c.APIURL = strings.TrimSuffix(c.APIURL, secretOf(s)) + secret
	})

	// A 404 outside the secret path must not pass for a missing key: a
	// delete would report success, a read would report the key gone.
	for method, err := range panelCalls(t.Context(), o, vpn.State{}) {
		require.ErrorIs(t, err, vpn.ErrUnauthorized, method)
		require.NotErrorIs(t, err, vpn.ErrNotFound, method)
		require.ErrorContains(t, err, "wrong secret", method)
		require.NotContains(t, err.Error(), secret, "%s: the secret path never appears in errors", method)
	}
	k, ok := s.Key(a.Name)
	require.True(t, ok, "the key is still there")
	require.Equal(t, a.URL, k.AccessURL)
	require.Nil(t, k.DataLimit, "the key was not disabled")
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
