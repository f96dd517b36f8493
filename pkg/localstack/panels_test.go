package localstack

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/config"
	sandboxoutline "github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// panelsOnly starts a stack's sandbox panels alone, as Start would.
func panelsOnly(t *testing.T, cfg Config) *Stack {
	t.Helper()
	cfg, err := cfg.withDefaults()
	require.NoError(t, err)
	s := &Stack{cfg: cfg, log: zerolog.Nop()}
	err = s.startPanels()
	t.Cleanup(func() {
		for _, p := range s.Panels {
			p.Close()
		}
	})
	require.NoError(t, err)
	return s
}

// workersFleet is the fleet activation and expiry-cleanup build from the
// environment the stack gives them.
func workersFleet(t *testing.T, s *Stack) *vpn.Fleet {
	t.Helper()
	for _, kv := range s.panelEnv() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	env, err := config.Load(vpn.NewPanelEnv())
	require.NoError(t, err)
	require.NoError(t, env.Validate())
	f, err := env.New(1, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	return f
}

// TestTwoPanelsInOneLocationKeepTheirStateAndPorts starts the default two
// sandbox panels: the workers get both in VPN_PANELS, in one location with
// failover, the first under the single panel's name; each keeps its keys
// and its API URL across a restart on the same SandboxDir.
func TestTwoPanelsInOneLocationKeepTheirStateAndPorts(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: t.TempDir(), DatabaseURL: "postgres://x", SandboxDir: dir}
	s := panelsOnly(t, cfg)
	require.Len(t, s.Panels, 2)
	require.Same(t, s.Outline, s.Panels[0].Server)
	require.NotEqual(t, s.Panels[0].APIURL(), s.Panels[1].APIURL())

	f := workersFleet(t, s)
	var names []string
	for _, m := range f.Members() {
		names = append(names, m.Name())
		require.Equal(t, PanelLocation, m.Location())
	}
	require.Equal(t, []string{"outline", "outline-2"}, names, "the first keeps the name accounts were recorded under")
	ctx := t.Context()
	second, _ := f.Member("outline-2")
	acc, err := second.CreateAccount(ctx, vpn.Owner{UserID: 42}, vpn.State{Enabled: true})
	require.NoError(t, err)
	require.Len(t, s.Panels[1].Keys(), 1, "the second panel's calls reach the second sandbox")
	require.Empty(t, s.Panels[0].Keys())

	// The first panel down: a new user goes to the second, in the same
	// location.
	first, _ := f.Member("outline")
	s.Panels[0].Inject(sandboxoutline.Fault{Status: http.StatusServiceUnavailable})
	_, err = first.Accounts(ctx, "")
	require.Error(t, err)
	placed, err := f.Place("", map[string]int{"outline-2": 1})
	require.NoError(t, err)
	require.Equal(t, "outline-2", placed.Name(), "failover to the healthy panel of the location")

	urls := []string{s.Panels[0].APIURL(), s.Panels[1].APIURL()}
	for _, p := range s.Panels {
		p.Close()
	}
	again := panelsOnly(t, cfg)
	require.Equal(t, urls, []string{again.Panels[0].APIURL(), again.Panels[1].APIURL()}, "each panel answers at its API URL again")
	keys := again.Panels[1].Keys()
	require.Len(t, keys, 1)
	require.Equal(t, acc.ID, keys[0].ID, "the second panel's key survived the restart")
}

func TestOnePanelWhenAsked(t *testing.T) {
	s := panelsOnly(t, Config{Dir: t.TempDir(), DatabaseURL: "postgres://x", Panels: 1})
	require.Len(t, s.Panels, 1)
	f := workersFleet(t, s)
	require.Len(t, f.Members(), 1)
	_, err := f.Members()[0].Accounts(t.Context(), "")
	require.NoError(t, err)
}
