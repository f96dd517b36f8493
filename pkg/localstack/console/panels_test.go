package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
	"github.com/vpnbot/vpnbot/pkg/localstack/console"
	sandboxoutline "github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpnmetrics"
)

// opsOf serves reg as a service's /metrics, beside /livez and /readyz.
func opsOf(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// sandboxPanel starts a sandbox Outline panel for the test.
func sandboxPanel(t *testing.T) *sandboxoutline.Server {
	t.Helper()
	srv, err := sandboxoutline.New(sandboxoutline.Config{Log: zerolog.Nop()})
	require.NoError(t, err)
	require.NoError(t, srv.Start("127.0.0.1:0"))
	t.Cleanup(srv.Close)
	return srv
}

// expiryMetrics is what expiry-cleanup's /metrics says of the panel
// "outline" after reconciliation repaired two drifted accounts.
const expiryMetrics = `# TYPE vpnbot_panel_drift_repaired_total counter
vpnbot_panel_drift_repaired_total{drift="missing",panel="outline"} 2
vpnbot_panel_drift_repaired_total{drift="orphan",panel="outline"} 0
# TYPE vpnbot_expiry_panel_errors_total counter
vpnbot_expiry_panel_errors_total{panel="outline"} 1
# TYPE vpnbot_expiry_orphans_unbacked gauge
vpnbot_expiry_orphans_unbacked{panel="outline"} 3
`

// TestStatusShowsEachPanelAndItsSwitchBreaksOnlyThatOne runs a fleet of two
// sandbox panels with the real panel metrics, as activation does: the
// status page shows each panel's keys, calls, latency and the services'
// counts; the second panel's failing switch makes the fleet see it down,
// the first staying up, and turning it off brings it back.
func TestStatusShowsEachPanelAndItsSwitchBreaksOnlyThatOne(t *testing.T) {
	t.Parallel()
	first, second := sandboxPanel(t), sandboxPanel(t)
	env := vpn.NewPanelEnv()
	env.Panels = vpn.PanelList{
		{Name: "outline", Kind: vpn.KindOutline, Location: "local", URL: first.APIURL(), CertSHA256: first.CertSHA256()},
		{Name: "outline-2", Kind: vpn.KindOutline, Location: "local", URL: second.APIURL(), CertSHA256: second.CertSHA256()},
	}
	reg := prometheus.NewRegistry()
	fleet, err := vpnmetrics.Fleet(env, 1, reg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, fleet.Close()) })

	c := &control{
		services: []localstack.ServiceID{
			{Name: localstack.Activation, Label: localstack.Activation},
			{Name: localstack.ExpiryCleanup, Label: localstack.ExpiryCleanup},
		},
		running: map[string]bool{localstack.Activation: true, localstack.ExpiryCleanup: true},
		ops: map[string]string{
			localstack.Activation:    opsOf(t, reg),
			localstack.ExpiryCleanup: opsServer(t, nil, expiryMetrics),
		},
	}
	e := start(t, console.Config{Control: c, Panels: []console.Panel{
		{Name: "outline", Kind: vpn.KindOutline, Location: "local", Sandbox: first},
		{Name: "outline-2", Kind: vpn.KindOutline, Location: "local", Sandbox: second},
	}})
	panels := func() []console.PanelStatus {
		t.Helper()
		_, body := e.do(http.MethodGet, "/api/status", "")
		return decode[console.Status](t, body).Panels
	}
	setSwitch := func(name string, on bool) {
		t.Helper()
		status, body := e.do(http.MethodPost, "/api/switches/"+name, fmt.Sprintf(`{"on":%t}`, on))
		require.Equal(t, http.StatusOK, status, string(body))
	}

	a, _ := fleet.Member("outline")
	b, _ := fleet.Member("outline-2")
	ctx := t.Context()
	_, err = a.CreateAccount(ctx, vpn.Owner{UserID: 1}, vpn.State{Enabled: true})
	require.NoError(t, err)
	_, err = b.Accounts(ctx, "")
	require.NoError(t, err)

	ps := panels()
	require.Len(t, ps, 2, "the sandbox panels, in their order")
	p := ps[0]
	require.Equal(t, "outline", p.Name)
	require.Equal(t, "local", p.Location)
	require.True(t, p.Sandbox)
	require.Equal(t, 1, p.Keys)
	require.Equal(t, 1, p.WorkingKeys)
	require.NotNil(t, p.Up)
	require.True(t, *p.Up)
	require.Equal(t, map[string]float64{"ok": 1}, p.CallsTotal)
	require.NotNil(t, p.P50)
	require.Positive(t, *p.P50)
	require.NotNil(t, p.P95)
	require.GreaterOrEqual(t, *p.P95, *p.P50)
	require.Equal(t, map[string]float64{"missing": 2, "orphan": 0}, p.DriftRepairedTotal, "from expiry-cleanup")
	require.EqualValues(t, 1, p.ErrorsTotal)
	require.NotNil(t, p.Unbacked)
	require.EqualValues(t, 3, *p.Unbacked)
	require.Zero(t, ps[1].Keys)
	require.True(t, *ps[1].Up)

	setSwitch(console.PanelSwitch("outline-2", console.PanelFailing), true)
	_, err = b.Accounts(ctx, "")
	require.ErrorIs(t, err, vpn.ErrUnavailable)
	placed, err := fleet.Place("", map[string]int{"outline": 1})
	require.NoError(t, err)
	require.Equal(t, "outline", placed.Name(), "new users go to the panel that answers")
	ps = panels()
	require.True(t, *ps[0].Up, "the other panel stays up")
	require.Empty(t, ps[0].Faults)
	require.False(t, *ps[1].Up)
	require.Equal(t, []string{localstack.Activation}, ps[1].DownIn)
	require.Equal(t, []string{console.PanelFailing}, ps[1].Faults)
	require.Equal(t, map[string]float64{"ok": 1, "unavailable": 1}, ps[1].CallsTotal)

	setSwitch(console.PanelSwitch("outline-2", console.PanelFailing), false)
	_, err = b.Accounts(ctx, "")
	require.NoError(t, err, "restored")
	ps = panels()
	require.True(t, *ps[1].Up)
	require.Empty(t, ps[1].Faults)
	require.Empty(t, ps[1].DownIn)
}

// TestStatusShowsAPanelOnlyTheServicesKnow: a real panel (not a sandbox)
// gets its row from the services' metrics alone.
func TestStatusShowsAPanelOnlyTheServicesKnow(t *testing.T) {
	t.Parallel()
	c := &control{
		services: []localstack.ServiceID{{Name: localstack.Activation, Label: localstack.Activation}},
		running:  map[string]bool{localstack.Activation: true},
		ops: map[string]string{localstack.Activation: opsServer(t, nil, `# TYPE vpnbot_panel_up gauge
vpnbot_panel_up{kind="remnawave",location="nl",panel="nl-1"} 0
# TYPE vpnbot_panel_request_duration_seconds histogram
vpnbot_panel_request_duration_seconds_bucket{method="Accounts",outcome="unavailable",panel="nl-1",le="0.1"} 0
vpnbot_panel_request_duration_seconds_bucket{method="Accounts",outcome="unavailable",panel="nl-1",le="1"} 3
vpnbot_panel_request_duration_seconds_bucket{method="Accounts",outcome="unavailable",panel="nl-1",le="+Inf"} 4
vpnbot_panel_request_duration_seconds_sum{method="Accounts",outcome="unavailable",panel="nl-1"} 22
vpnbot_panel_request_duration_seconds_count{method="Accounts",outcome="unavailable",panel="nl-1"} 4
`)},
	}
	e := start(t, console.Config{Control: c})
	_, body := e.do(http.MethodGet, "/api/status", "")
	ps := decode[console.Status](t, body).Panels
	require.Len(t, ps, 1)
	p := ps[0]
	require.Equal(t, "nl-1", p.Name)
	require.Equal(t, "remnawave", p.Kind)
	require.Equal(t, "nl", p.Location)
	require.False(t, p.Sandbox)
	require.False(t, *p.Up)
	require.Equal(t, map[string]float64{"unavailable": 4}, p.CallsTotal)
	require.InDelta(t, 0.7, *p.P50, 1e-9, "the second of four calls, of three in (0.1 s, 1 s]: interpolated in it")
	require.InDelta(t, 1, *p.P95, 1e-9, "beyond the last bound: the last bound, as histogram_quantile says")
}
