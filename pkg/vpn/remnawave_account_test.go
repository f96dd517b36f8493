package vpn_test

import (
	"testing"

	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

func TestRemnawaveContract(t *testing.T) {
	t.Run("2.x", func(t *testing.T) { vpntest.Contract(t, vpntest.RemnawaveHarness(remnawave.Version2)) })
	t.Run("3.x", func(t *testing.T) { vpntest.Contract(t, vpntest.RemnawaveHarness(remnawave.Version3)) })
}
