package vpn_test

import (
	"testing"

	"github.com/vpnbot/vpnbot/pkg/sandbox/xui"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// xuiHarness runs the contract against sandboxes of version.
func xuiHarness(version string) vpntest.Harness[*xui.Server] {
	return vpntest.Harness[*xui.Server]{
		Start: func(t *testing.T) *xui.Server { return vpntest.StartXUI(t, version) },
		Adapter: func(t *testing.T, s *xui.Server, prefix string, pageSize int) vpn.Panel {
			return vpntest.XUIAdapter(t, s, prefix, pageSize)
		},
		WrongCredentials: func(t *testing.T, s *xui.Server) vpn.Panel {
			return vpntest.XUIAdapterWith(t, vpn.XUIConfig{
				BaseURL: s.URL(), Username: vpntest.XUIUsername, Password: "not-the-password",
				InboundID: xui.InboundID, SubscriptionURL: s.SubscriptionURL(),
			})
		},
		LinkWorks: func(t *testing.T, s *xui.Server, url string) bool { return vpntest.XUILinkWorks(t, s, url) },
		Exact:     true,
	}
}

func TestXUIContract(t *testing.T) {
	for _, version := range []string{"2.8", "2.9", "3.0", "3.1", xui.DefaultVersion} {
		t.Run("v"+version, func(t *testing.T) { vpntest.Contract(t, xuiHarness(version)) })
	}
}
