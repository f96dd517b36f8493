package vpntest

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vpnbot/vpnbot/pkg/sandbox/marzban"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// The admin credentials of the sandbox Marzban that StartMarzban starts.
const (
	MarzbanAdmin    = "admin"
	MarzbanPassword = "test-password"
)

// StartMarzban starts a sandbox Marzban panel on a free port, closed when
// the test ends. cfg's zero fields take the sandbox's defaults, and its
// Username and Password, when empty, MarzbanAdmin and MarzbanPassword.
func StartMarzban(tb testing.TB, cfg marzban.Config) *marzban.Server {
	tb.Helper()
	if cfg.Username == "" {
		cfg.Username, cfg.Password = MarzbanAdmin, MarzbanPassword
	}
	s := marzban.New(cfg)
	if err := s.Start("127.0.0.1:0"); err != nil {
		tb.Fatalf("starting the sandbox Marzban panel: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// MarzbanAdapter is a Marzban adapter of s logging in as MarzbanAdmin,
// naming its accounts with prefix ("" for the default) and listing pageSize
// a page (0 for the default), closed when the test ends.
func MarzbanAdapter(tb testing.TB, s *marzban.Server, prefix string, pageSize int) *vpn.Marzban {
	tb.Helper()
	return marzbanAdapter(tb, s, MarzbanPassword, prefix, pageSize)
}

// MarzbanWrongPassword is a Marzban adapter of s whose password the panel
// refuses, closed when the test ends.
func MarzbanWrongPassword(tb testing.TB, s *marzban.Server) *vpn.Marzban {
	tb.Helper()
	return marzbanAdapter(tb, s, "not-"+MarzbanPassword, "", 0)
}

func marzbanAdapter(tb testing.TB, s *marzban.Server, password, prefix string, pageSize int) *vpn.Marzban {
	tb.Helper()
	p, err := vpn.NewMarzban(vpn.MarzbanConfig{BaseURL: s.URL(), Username: MarzbanAdmin, Password: password,
		Timeout: adapterTimeout, NamePrefix: prefix, PageSize: pageSize})
	if err != nil {
		tb.Fatalf("making the Marzban adapter: %v", err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// MarzbanLinkWorks reports whether a VPN app given the subscription URL
// would connect: the subscription answers share links, and the panel's core
// accepts every one of them (s.Connects).
func MarzbanLinkWorks(tb testing.TB, s *marzban.Server, url string) bool {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{}, Timeout: adapterTimeout}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
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
	raw, err := base64.StdEncoding.DecodeString(string(body))
	if err != nil {
		tb.Fatalf("the subscription is not base64: %v", err)
	}
	links := strings.Fields(string(raw))
	for _, l := range links {
		if !s.Connects(l) {
			return false
		}
	}
	return len(links) > 0
}

// MarzbanHarness is the vpntest.Contract harness of the Marzban adapter and
// its sandbox.
func MarzbanHarness() Harness[*marzban.Server] {
	return Harness[*marzban.Server]{
		Start: func(t *testing.T) *marzban.Server { return StartMarzban(t, marzban.Config{}) },
		Adapter: func(t *testing.T, s *marzban.Server, prefix string, pageSize int) vpn.Panel {
			return MarzbanAdapter(t, s, prefix, pageSize)
		},
		WrongCredentials: func(t *testing.T, s *marzban.Server) vpn.Panel { return MarzbanWrongPassword(t, s) },
		LinkWorks:        func(t *testing.T, s *marzban.Server, url string) bool { return MarzbanLinkWorks(t, s, url) },
	}
}
