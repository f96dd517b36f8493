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
// StartRemnawave and StartRemnawaveServer start.
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

// OutlineAdapter is OutlinePanel listing the adapter's default page size.
func OutlineAdapter(tb testing.TB, s *outline.Server, prefix string) *vpn.Outline {
	tb.Helper()
	return OutlinePanel(tb, s, prefix, 0)
}

// StartRemnawave starts a sandbox Remnawave 2.x panel on a free port,
// accepting RemnawaveToken, closed when the test ends.
func StartRemnawave(tb testing.TB) *remnawave.Server {
	tb.Helper()
	return StartRemnawaveServer(tb, remnawave.Config{Log: zerolog.Nop()})
}

// RemnawaveAdapter is RemnawavePanel listing the adapter's default page
// size.
func RemnawaveAdapter(tb testing.TB, s *remnawave.Server, prefix string) *vpn.Remnawave {
	tb.Helper()
	return RemnawavePanel(tb, s, prefix, 0)
}
