package ssconf_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/ssconf"
)

func TestParseKeyReadsOutlinesKeys(t *testing.T) {
	t.Parallel()
	info := base64.RawURLEncoding.EncodeToString([]byte("chacha20-ietf-poly1305:s3cr:et"))
	for _, c := range []struct {
		name, key string
		want      ssconf.Config
	}{
		{"shadowbox's SIP002 key", "ss://" + info + "@203.0.113.5:8388/?outline=1",
			ssconf.Config{Server: "203.0.113.5", ServerPort: 8388, Password: "s3cr:et", Method: "chacha20-ietf-poly1305"}},
		{"padded standard base64 and a name", "ss://" + base64.StdEncoding.EncodeToString([]byte("aes-256-gcm:pw")) + "@vpn.example.com:443#Home",
			ssconf.Config{Server: "vpn.example.com", ServerPort: 443, Password: "pw", Method: "aes-256-gcm"}},
		{"SIP022's plain user info", "ss://2022-blake3-aes-128-gcm:a%2Fb%3D@[2001:db8::1]:8443",
			ssconf.Config{Server: "2001:db8::1", ServerPort: 8443, Password: "a/b=", Method: "2022-blake3-aes-128-gcm"}},
		{"a salt prefix", "ss://" + info + "@vpn.example.com:443/?outline=1&prefix=%16%03%01",
			ssconf.Config{Server: "vpn.example.com", ServerPort: 443, Password: "s3cr:et", Method: "chacha20-ietf-poly1305", Prefix: "\x16\x03\x01"}},
	} {
		got, err := ssconf.ParseKey(c.key)
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, got, c.name)
	}
}

func TestParseKeyRefusesWhatIsNotAKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"https://panel.example.com/api/sub/abc", "vless://id@host:443", ""} {
		_, err := ssconf.ParseKey(key)
		require.ErrorIs(t, err, ssconf.ErrNotShadowsocks, key)
	}
	secret := base64.RawURLEncoding.EncodeToString([]byte("no-colon-secret"))
	for _, key := range []string{
		"ss://" + secret + "@vpn.example.com:443",
		"ss://" + base64.RawURLEncoding.EncodeToString([]byte("m:p")) + "@vpn.example.com",
		"ss://" + base64.RawURLEncoding.EncodeToString([]byte("m:p")) + "@vpn.example.com:99999",
		"ss://vpn.example.com:443",
		"ss://%zz" + secret + "@vpn.example.com:443",
	} {
		_, err := ssconf.ParseKey(key)
		require.Error(t, err, key)
		require.NotErrorIs(t, err, ssconf.ErrNotShadowsocks, key)
		require.NotContains(t, err.Error(), secret, "the key is a credential")
	}
}

// The link the shop hands out reaches the key server's route, carrying
// the token, and names the server in the app.
func TestLinkReachesTheKeyServersRoute(t *testing.T) {
	t.Parallel()
	s := ssconf.Settings{URL: "https://keys.example.com/", Label: "My VPN"}
	require.NoError(t, s.Validate())
	link := s.Link("0123abcd")
	require.Equal(t, "ssconf://keys.example.com/k/0123abcd#My%20VPN", link)

	var got string
	mux := http.NewServeMux()
	mux.HandleFunc(ssconf.Pattern, func(_ http.ResponseWriter, r *http.Request) { got = r.PathValue(ssconf.TokenParam) })
	// The Outline client fetches the https:// URL the ssconf:// one names.
	fetched := "https" + strings.TrimPrefix(strings.Split(link, "#")[0], "ssconf")
	mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, fetched, nil))
	require.Equal(t, "0123abcd", got)
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, ssconf.DefaultSettings().Validate(), "off")
	require.False(t, ssconf.DefaultSettings().Enabled())
	on := ssconf.DefaultSettings()
	on.URL = "https://keys.example.com:8443"
	require.NoError(t, on.Validate())
	require.True(t, on.Enabled())
	require.Equal(t, "ssconf://keys.example.com:8443/k/t#VPN", on.Link("t"))
	for _, bad := range []ssconf.Settings{
		{URL: "http://keys.example.com", Label: "VPN"},
		{URL: "https://keys.example.com/keys", Label: "VPN"},
		{URL: "https://keys.example.com?a=1", Label: "VPN"},
		{URL: "https://", Label: "VPN"},
		{URL: "keys.example.com", Label: "VPN"},
		{URL: "https://keys.example.com"},
	} {
		require.Error(t, bad.Validate(), "%+v", bad)
	}
}
