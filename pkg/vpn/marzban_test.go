package vpn_test

import (
	"testing"

	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

func TestMarzbanContract(t *testing.T) {
	t.Parallel()
	vpntest.Contract(t, vpntest.MarzbanHarness())
}
