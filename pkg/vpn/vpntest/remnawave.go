package vpntest

import (
	"io"
	"net/http"
	"testing"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// StartRemnawaveServer starts a sandbox Remnawave panel of cfg on a free
// port, closed when the test ends. cfg.Token defaults to RemnawaveToken;
// cfg.Version chooses the API (remnawave.Version2 or Version3).
func StartRemnawaveServer(tb testing.TB, cfg remnawave.Config) *remnawave.Server {
	tb.Helper()
	if cfg.Token == "" {
		cfg.Token = RemnawaveToken
	}
	s := remnawave.New(cfg)
	if err := s.Start("127.0.0.1:0"); err != nil {
		tb.Fatalf("starting the sandbox Remnawave panel: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// RemnawavePanel is a Remnawave adapter of s, which must accept
// RemnawaveToken, naming accounts with prefix ("" for the default) and
// listing pageSize a page (0 for the default), closed when the test ends.
func RemnawavePanel(tb testing.TB, s *remnawave.Server, prefix string, pageSize int) *vpn.Remnawave {
	tb.Helper()
	p, err := vpn.NewRemnawave(vpn.RemnawaveConfig{BaseURL: s.URL(), Token: RemnawaveToken,
		Timeout: adapterTimeout, NamePrefix: prefix, PageSize: pageSize})
	if err != nil {
		tb.Fatalf("making the Remnawave adapter: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// RemnawaveHarness is the Contract harness of the Remnawave adapter against
// a sandbox panel serving API version (remnawave.Version2 or Version3).
func RemnawaveHarness(version int) Harness[*remnawave.Server] {
	return Harness[*remnawave.Server]{
		Start: func(t *testing.T) *remnawave.Server {
			return StartRemnawaveServer(t, remnawave.Config{Version: version, Log: zerolog.Nop()})
		},
		Adapter: func(t *testing.T, s *remnawave.Server, prefix string, pageSize int) vpn.Panel {
			return RemnawavePanel(t, s, prefix, pageSize)
		},
		WrongCredentials: func(t *testing.T, s *remnawave.Server) vpn.Panel {
			p, err := vpn.NewRemnawave(vpn.RemnawaveConfig{BaseURL: s.URL(), Token: "not-" + RemnawaveToken,
				Timeout: adapterTimeout})
			if err != nil {
				t.Fatalf("making the Remnawave adapter: %v", err)
			}
			t.Cleanup(func() { _ = p.Close() })
			return p
		},
		LinkWorks: func(t *testing.T, _ *remnawave.Server, url string) bool {
			return RemnawaveLinkWorks(t, url)
		},
		Exact: true,
	}
}

// RemnawaveLinkWorks fetches a subscription URL of a sandbox panel as a VPN
// app would and reports whether it lists a proxy to connect to: false for
// a URL the panel no longer answers (rotated, deleted) and for one that
// answers only the panel's placeholders (disabled, expired, limited).
func RemnawaveLinkWorks(tb testing.TB, url string) bool {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{}, Timeout: adapterTimeout}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		tb.Fatalf("fetching the subscription %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("reading the subscription %s: %v", url, err)
	}
	return resp.StatusCode == http.StatusOK && remnawave.SubscriptionWorks(body)
}
