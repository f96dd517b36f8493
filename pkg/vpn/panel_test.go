package vpn_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

func TestPanelEnvReadsValidatesAndMasks(t *testing.T) {
	t.Setenv("VPN_PANEL", "remnawave")
	t.Setenv("REMNAWAVE_URL", "https://panel.example.com")
	t.Setenv("REMNAWAVE_TOKEN", "s3cret")
	t.Setenv("REMNAWAVE_SQUADS", "a,b")
	env, err := config.Load(vpn.NewPanelEnv())
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, env.RemnawaveSquads)
	require.Equal(t, vpn.DefaultTimeout, env.PanelTimeout)
	require.Equal(t, "***", config.Fields(env)["REMNAWAVE_TOKEN"])
	p, err := env.New()
	require.NoError(t, err)
	require.Equal(t, vpn.PanelRemnawave, p.Name())
	require.NoError(t, p.Close())

	t.Setenv("REMNAWAVE_TOKEN", "")
	_, err = config.Load(vpn.NewPanelEnv())
	require.ErrorContains(t, err, "REMNAWAVE_TOKEN are required")
	t.Setenv("VPN_PANEL", "wireguard")
	_, err = config.Load(vpn.NewPanelEnv())
	require.ErrorContains(t, err, `VPN_PANEL="wireguard"`)

	t.Setenv("VPN_PANEL", "outline")
	_, err = config.Load(vpn.NewPanelEnv())
	require.ErrorContains(t, err, "OUTLINE_API_URL is required")
}
