package vpntest

import (
	"strings"
	"testing"

	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// OutlinePanel is an Outline adapter of s naming its accounts with prefix
// ("" for the default), listing pageSize accounts a page (0: the default),
// closed when the test ends.
func OutlinePanel(tb testing.TB, s *outline.Server, prefix string, pageSize int) *vpn.Outline {
	tb.Helper()
	p, err := vpn.NewOutline(vpn.OutlineConfig{APIURL: s.APIURL(), CertSHA256: s.CertSHA256(),
		Timeout: adapterTimeout, NamePrefix: prefix, PageSize: pageSize})
	if err != nil {
		tb.Fatalf("making the Outline adapter: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// OutlineHarness is how Contract reaches the sandbox Outline: a link works
// when the server would accept the ss:// key's secret (KeyWorks), and the
// wrong credentials are an API URL with another secret path.
func OutlineHarness() Harness[*outline.Server] {
	return Harness[*outline.Server]{
		Start: func(t *testing.T) *outline.Server { return StartOutline(t) },
		Adapter: func(t *testing.T, s *outline.Server, prefix string, pageSize int) vpn.Panel {
			return OutlinePanel(t, s, prefix, pageSize)
		},
		WrongCredentials: func(t *testing.T, s *outline.Server) vpn.Panel {
			t.Helper()
			api := s.APIURL()
			p, err := vpn.NewOutline(vpn.OutlineConfig{APIURL: api[:strings.LastIndex(api, "/")] + "/NotTheSecret",
				CertSHA256: s.CertSHA256(), Timeout: adapterTimeout})
			if err != nil {
				t.Fatalf("making the Outline adapter: %v", err)
			}
			t.Cleanup(func() { _ = p.Close() })
			return p
		},
		LinkWorks: func(_ *testing.T, s *outline.Server, url string) bool { return s.KeyWorks(url) },
		NoExpiry:  true,
	}
}
