package console

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// The VPN panel series the status page reads, exported by the services that
// call the panels (activation, expiry-cleanup).
const (
	panelPrefix          = "vpnbot_panel_"
	panelCalls           = "vpnbot_panel_request_duration_seconds"
	panelUp              = "vpnbot_panel_up"
	panelDriftRepaired   = "vpnbot_panel_drift_repaired_total"
	panelErrorsSuffix    = "_panel_errors_total" // vpnbot_activation_…, vpnbot_expiry_…
	panelOrphansUnbacked = "vpnbot_expiry_orphans_unbacked"
)

// isPanelFamily reports whether a metric family speaks of the VPN panels.
func isPanelFamily(name string) bool {
	return strings.HasPrefix(name, panelPrefix) || strings.HasSuffix(name, panelErrorsSuffix) || name == panelOrphansUnbacked
}

// PanelMetrics is what one service's /metrics says of one VPN panel.
type PanelMetrics struct {
	Panel    string `json:"panel"`
	Kind     string `json:"kind,omitempty"`
	Location string `json:"location,omitempty"`
	// Up is vpnbot_panel_up now: false since a call of this service to the
	// panel failed on the panel's side, true once one is answered again;
	// nil when the service does not say.
	Up *bool `json:"up"`
	// CallsTotal counts the service's calls to the panel since it started,
	// by outcome (ok, unavailable, not_found, …).
	CallsTotal map[string]float64 `json:"calls_total,omitempty"`
	// ErrorsTotal counts the activations, revocations and listings the
	// panel failed since start; nil when the service does not count them.
	ErrorsTotal *float64 `json:"errors_total,omitempty"`
	// DriftRepairedTotal counts the accounts reconciliation repaired since
	// start, by kind of drift.
	DriftRepairedTotal map[string]float64 `json:"drift_repaired_total,omitempty"`
	// Unbacked is how many of the panel's accounts nothing backs, after
	// the last reconciliation.
	Unbacked *float64 `json:"unbacked,omitempty"`

	// latency is the calls' durations since start, every method and
	// outcome together.
	latency histogram
}

// histogram is a Prometheus histogram's cumulative counts by upper bound
// (+Inf left out) and its count; several add up bound by bound.
type histogram struct {
	buckets map[float64]float64
	count   float64
}

func (h *histogram) add(d *dto.Histogram) {
	if h.buckets == nil {
		h.buckets = map[float64]float64{}
	}
	for _, b := range d.GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			h.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	h.count += float64(d.GetSampleCount())
}

func (h *histogram) merge(o histogram) {
	if o.count == 0 {
		return
	}
	if h.buckets == nil {
		h.buckets = map[float64]float64{}
	}
	for ub, c := range o.buckets {
		h.buckets[ub] += c
	}
	h.count += o.count
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linearly within the bucket it falls in, the highest finite bound
// when it falls beyond; nil without samples.
func (h histogram) quantile(q float64) *float64 {
	if h.count == 0 {
		return nil
	}
	rank := q * h.count
	lower, below := 0.0, 0.0
	for _, ub := range slices.Sorted(maps.Keys(h.buckets)) {
		c := h.buckets[ub]
		if c >= rank && c > below {
			v := lower + (ub-lower)*(rank-below)/(c-below)
			return &v
		}
		lower, below = ub, c
	}
	return &lower
}

// addPanelFamily adds a panel family's series to panels, by panel name.
func addPanelFamily(panels map[string]*PanelMetrics, f *dto.MetricFamily) {
	name := f.GetName()
	for _, m := range f.GetMetric() {
		panel := label(m, "panel")
		p, ok := panels[panel]
		if !ok {
			p = &PanelMetrics{Panel: panel}
			panels[panel] = p
		}
		switch {
		case name == panelCalls:
			p.CallsTotal = put(p.CallsTotal, label(m, "outcome"), float64(m.GetHistogram().GetSampleCount()))
			p.latency.add(m.GetHistogram())
		case name == panelUp:
			up := m.GetGauge().GetValue() == 1
			p.Up, p.Kind, p.Location = &up, label(m, "kind"), label(m, "location")
		case name == panelDriftRepaired:
			p.DriftRepairedTotal = put(p.DriftRepairedTotal, label(m, "drift"), m.GetCounter().GetValue())
		case name == panelOrphansUnbacked:
			v := m.GetGauge().GetValue()
			p.Unbacked = &v
		case strings.HasSuffix(name, panelErrorsSuffix):
			v := m.GetCounter().GetValue()
			p.ErrorsTotal = &v
		}
	}
}

// PanelStatus is one VPN panel as the status page shows it: the sandbox's
// own view (its keys, the switches on) and what the running services that
// call it report, added up.
type PanelStatus struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Location string `json:"location"`
	// Sandbox is set for a sandbox panel of Config.Panels; Keys,
	// WorkingKeys and Faults are its own.
	Sandbox bool `json:"sandbox"`
	// Keys is how many access keys (one a user) the panel holds now, and
	// WorkingKeys how many of them are not blocked.
	Keys        int `json:"keys"`
	WorkingKeys int `json:"working_keys"`
	// Faults are the panel's switches that are on (down, failing, slow).
	Faults []string `json:"faults,omitempty"`
	// Up is nil while no running service reports the panel's health, false
	// while one sees it down: DownIn names those.
	Up     *bool    `json:"up"`
	DownIn []string `json:"down_in,omitempty"`
	// CallsTotal counts the calls to the panel since the services
	// started, by outcome.
	CallsTotal map[string]float64 `json:"calls_total,omitempty"`
	// P50 and P95 are the calls' latency quantiles since the services
	// started, in seconds; nil before the first call.
	P50 *float64 `json:"p50_seconds"`
	P95 *float64 `json:"p95_seconds"`
	// ErrorsTotal counts the operations the panel failed since start.
	ErrorsTotal float64 `json:"errors_total"`
	// DriftRepairedTotal counts the accounts repaired since start, by
	// kind of drift; Unbacked is now, after the last reconciliation.
	DriftRepairedTotal map[string]float64 `json:"drift_repaired_total,omitempty"`
	Unbacked           *float64           `json:"unbacked,omitempty"`
}

// panelStatuses lists the sandbox panels, then any other panel the
// services report, each with what the services say of it.
func (s *Server) panelStatuses(services []ServiceStatus) []PanelStatus {
	var out []PanelStatus
	index := map[string]int{}
	for _, p := range s.cfg.Panels {
		st := PanelStatus{Name: p.Name, Kind: p.Kind, Location: p.Location, Sandbox: true, Faults: s.switches.panelFaultsOn(p.Name)}
		for _, k := range p.Sandbox.Keys() {
			st.Keys++
			if !k.Blocked() {
				st.WorkingKeys++
			}
		}
		index[p.Name] = len(out)
		out = append(out, st)
	}
	latency := map[string]*histogram{}
	for _, svc := range services {
		for _, m := range svc.Panels {
			i, ok := index[m.Panel]
			if !ok {
				i = len(out)
				index[m.Panel] = i
				out = append(out, PanelStatus{Name: m.Panel, Kind: m.Kind, Location: m.Location})
			}
			out[i].add(svc.Label, m)
			if latency[m.Panel] == nil {
				latency[m.Panel] = &histogram{}
			}
			latency[m.Panel].merge(m.latency)
		}
	}
	for i := range out {
		if h := latency[out[i].Name]; h != nil {
			out[i].P50, out[i].P95 = h.quantile(0.5), h.quantile(0.95)
		}
	}
	return out
}

// add takes in what the service labelled service says of the panel.
func (p *PanelStatus) add(service string, m PanelMetrics) {
	if m.Up != nil {
		up := *m.Up && (p.Up == nil || *p.Up)
		p.Up = &up
		if !*m.Up {
			p.DownIn = append(p.DownIn, service)
		}
	}
	for k, v := range m.CallsTotal {
		p.CallsTotal = put(p.CallsTotal, k, v)
	}
	if m.ErrorsTotal != nil {
		p.ErrorsTotal += *m.ErrorsTotal
	}
	for k, v := range m.DriftRepairedTotal {
		p.DriftRepairedTotal = put(p.DriftRepairedTotal, k, v)
	}
	if m.Unbacked != nil {
		// Every expiry-cleanup replica counts the same accounts.
		v := max(*m.Unbacked, deref(p.Unbacked))
		p.Unbacked = &v
	}
	p.Kind = cmp.Or(p.Kind, m.Kind)
	p.Location = cmp.Or(p.Location, m.Location)
}

func deref(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}
