package vpntest

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vpnbot/vpnbot/pkg/sandbox/xui"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// The login and web base path of the sandbox 3x-ui panels StartXUI starts.
const (
	XUIUsername    = "admin"
	XUIPassword    = "test-password"
	XUIWebBasePath = "/xui-test/"
)

// StartXUI starts a sandbox 3x-ui panel of version ("2.9", "3.1", ""
// for the current 3.x) on a free port, with XUIUsername, XUIPassword and
// XUIWebBasePath, closed when the test ends.
func StartXUI(tb testing.TB, version string) *xui.Server {
	tb.Helper()
	return StartXUIWith(tb, xui.Config{Version: version})
}

// StartXUIWith is StartXUI with more of the sandbox's config: its login and
// web base path are filled in unless set.
func StartXUIWith(tb testing.TB, cfg xui.Config) *xui.Server {
	tb.Helper()
	if cfg.Username == "" {
		cfg.Username, cfg.Password = XUIUsername, XUIPassword
	}
	if cfg.WebBasePath == "" {
		cfg.WebBasePath = XUIWebBasePath
	}
	s, err := xui.New(cfg)
	if err != nil {
		tb.Fatalf("making the sandbox 3x-ui panel: %v", err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		tb.Fatalf("starting the sandbox 3x-ui panel: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// XUIAdapter is a 3x-ui adapter of s's inbound xui.InboundID naming its
// clients with prefix ("" for the default), pageSize a page (0: the
// default), closed when the test ends.
func XUIAdapter(tb testing.TB, s *xui.Server, prefix string, pageSize int) *vpn.XUI {
	tb.Helper()
	return XUIAdapterWith(tb, vpn.XUIConfig{
		BaseURL: s.URL(), Username: XUIUsername, Password: XUIPassword, InboundID: xui.InboundID,
		SubscriptionURL: s.SubscriptionURL(), Timeout: adapterTimeout, NamePrefix: prefix, PageSize: pageSize,
	})
}

// XUIAdapterWith is a 3x-ui adapter of cfg, closed when the test ends.
func XUIAdapterWith(tb testing.TB, cfg vpn.XUIConfig) *vpn.XUI {
	tb.Helper()
	p, err := vpn.NewXUI(cfg)
	if err != nil {
		tb.Fatalf("making the 3x-ui adapter: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// XUILinkWorks reports whether a VPN app given the subscription link would
// connect through s: the subscription server answers it with VLESS links,
// and s's Xray accepts every id in them.
func XUILinkWorks(tb testing.TB, s *xui.Server, link string) bool {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodGet, link, nil)
	if err != nil {
		tb.Fatalf("the subscription link %q: %v", link, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("fetching the subscription: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("reading the subscription: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return false
	}
	links, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(body)))
	if err != nil {
		tb.Fatalf("the subscription is not base64: %v", err)
	}
	lines := strings.Fields(string(links))
	for _, l := range lines {
		u, err := url.Parse(l)
		if err != nil || u.Scheme != "vless" || u.User == nil {
			tb.Fatalf("the subscription holds %q, not a VLESS link", l)
		}
		if !s.Accepts(u.User.Username()) {
			return false
		}
	}
	return len(lines) > 0
}
