package vpntest

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// RemnawaveToken is the API token of the sandbox Remnawave that
// StartRemnawave starts.
const RemnawaveToken = "test-token"

// adapterTimeout bounds one call of a test's panel adapter.
const adapterTimeout = 5 * time.Second

// StartOutline starts a sandbox Outline panel on a free port, closed when the
// test ends.
func StartOutline(tb testing.TB) *outline.Server {
	tb.Helper()
	s, err := outline.New(outline.Config{Log: zerolog.Nop()})
	if err != nil {
		tb.Fatalf("making the sandbox Outline panel: %v", err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		tb.Fatalf("starting the sandbox Outline panel: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// OutlineAdapter is an Outline adapter of s naming its accesses with prefix
// ("" for the default), closed when the test ends.
func OutlineAdapter(tb testing.TB, s *outline.Server, prefix string) *vpn.Outline {
	tb.Helper()
	p, err := vpn.NewOutline(vpn.OutlineConfig{APIURL: s.APIURL(), CertSHA256: s.CertSHA256(),
		Timeout: adapterTimeout, NamePrefix: prefix})
	if err != nil {
		tb.Fatalf("making the Outline adapter: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// StartRemnawave starts a sandbox Remnawave panel on a free port, accepting
// RemnawaveToken, closed when the test ends.
func StartRemnawave(tb testing.TB) *remnawave.Server {
	tb.Helper()
	s := remnawave.New(remnawave.Config{Token: RemnawaveToken, Log: zerolog.Nop()})
	if err := s.Start("127.0.0.1:0"); err != nil {
		tb.Fatalf("starting the sandbox Remnawave panel: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// RemnawaveAdapter is a Remnawave adapter of s naming its accesses with
// prefix ("" for the default), closed when the test ends.
func RemnawaveAdapter(tb testing.TB, s *remnawave.Server, prefix string) *vpn.Remnawave {
	tb.Helper()
	p, err := vpn.NewRemnawave(vpn.RemnawaveConfig{BaseURL: s.URL(), Token: RemnawaveToken,
		Timeout: adapterTimeout, NamePrefix: prefix})
	if err != nil {
		tb.Fatalf("making the Remnawave adapter: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}
