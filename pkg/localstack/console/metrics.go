package console

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vpnbot/vpnbot/pkg/worker"
)

// Metrics is what the status page shows of a service's /metrics. It reads
// metric families by their prefix, not a fixed list, so series that services
// add later show up (a new vpnbot_consumer_* gauge joins Gauges) and absent
// ones are simply left out. A field says in its name whether it is a count
// since the process started (…Total, a counter) or a value now (a gauge).
type Metrics struct {
	// Version is the build the service runs (vpnbot_build_info's version
	// and, when it differs, revision), "" when it does not say.
	Version   string            `json:"version,omitempty"`
	Workers   []WorkerMetrics   `json:"workers,omitempty"`
	Consumers []ConsumerMetrics `json:"consumers,omitempty"`
	// Panels is what the service says of each VPN panel it calls.
	Panels []PanelMetrics `json:"panels,omitempty"`
	// Pool is the PostgreSQL pool's vpnbot_db_pool_* series by the rest of
	// their name, e.g. "acquired_conns" and "max_conns" (now) and
	// "acquire_total" (since start).
	Pool map[string]float64 `json:"pool,omitempty"`
	// Process is the Go runtime's and the process's own: goroutines and
	// resident memory (now), CPU seconds (since start).
	Process map[string]float64 `json:"process,omitempty"`
}

// WorkerMetrics is one background worker's vpnbot_worker_* series.
type WorkerMetrics struct {
	Worker string `json:"worker"`
	// LastSuccessAge is the time since the last iteration that ended ok,
	// in seconds; nil when none has yet.
	LastSuccessAge *float64 `json:"last_success_age_seconds"`
	// IterationsTotal counts the iterations since start by outcome: ok,
	// error, timeout, canceled.
	IterationsTotal map[string]float64 `json:"iterations_total"`
	// Failing is set while the worker's iterations fail: some failed
	// (error, timeout) and none ended ok for two intervals.
	Failing bool `json:"failing"`
	// MeanDuration is the mean iteration time in seconds; nil before the
	// first iteration ended.
	MeanDuration *float64 `json:"mean_duration_seconds"`
	// Gauges are the other gauges by the rest of their name, e.g.
	// "leader", "interval_seconds" and "abandoned_iterations".
	Gauges map[string]float64 `json:"gauges,omitempty"`
	// LastItems are the items the last iteration reported, by item: what
	// it found, such as "pending", is what is there now.
	LastItems map[string]float64 `json:"last_items,omitempty"`
	// ItemsTotal sums every iteration's items since start, by item.
	ItemsTotal map[string]float64 `json:"items_total,omitempty"`
}

// ConsumerMetrics is one stream consumer's vpnbot_consumer_* series, as one
// replica sees it; the stream's own state is in StreamStatus.
type ConsumerMetrics struct {
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	// Gauges by the rest of their name, as this replica last saw them:
	// "pending" (the lag), "ack_pending", "gate_closed",
	// "abandoned_handlers", and whatever is added later.
	Gauges map[string]float64 `json:"gauges,omitempty"`
	// DeliveriesTotal counts the deliveries this replica handled since it
	// started, by outcome: ok, retry, timeout, dlq.
	DeliveriesTotal map[string]float64 `json:"deliveries_total,omitempty"`
	// Counters are the other counters by the rest of their name, e.g.
	// "redeliveries_total".
	Counters map[string]float64 `json:"counters,omitempty"`
	// MeanHandler is the mean handler time in seconds; nil before the first.
	MeanHandler *float64 `json:"mean_handler_seconds"`
}

const (
	buildInfo      = "vpnbot_build_info"
	workerPrefix   = "vpnbot_worker_"
	consumerPrefix = "vpnbot_consumer_"
	poolPrefix     = "vpnbot_db_pool_"
)

// failingAfter is how many of its intervals a worker whose iterations fail
// has gone without a success before the status page calls it failing.
const failingAfter = 2

// processSeries are the runtime series the status page shows, by the name
// it shows them under.
var processSeries = map[string]string{
	"go_goroutines":                 "goroutines",
	"process_resident_memory_bytes": "resident_memory_bytes",
	"process_cpu_seconds_total":     "cpu_seconds",
	"process_open_fds":              "open_fds",
}

// parseMetrics reads the Prometheus text format; now dates the ages. A
// body that does not parse gives an error and what was read before it.
func parseMetrics(r io.Reader, now time.Time) (Metrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		err = fmt.Errorf("parsing /metrics: %w", err)
	}
	var out Metrics
	workers := map[string]*WorkerMetrics{}
	consumers := map[[2]string]*ConsumerMetrics{}
	panels := map[string]*PanelMetrics{}
	for _, name := range slices.Sorted(maps.Keys(families)) {
		f := families[name]
		switch {
		case isPanelFamily(name):
			addPanelFamily(panels, f)
		case strings.HasPrefix(name, workerPrefix):
			addWorkerFamily(workers, f, now)
		case strings.HasPrefix(name, consumerPrefix):
			addConsumerFamily(consumers, f)
		case strings.HasPrefix(name, poolPrefix):
			for _, m := range f.GetMetric() {
				out.Pool = put(out.Pool, strings.TrimPrefix(name, poolPrefix), value(f, m))
			}
		case name == buildInfo:
			for _, m := range f.GetMetric() {
				out.Version = buildVersion(m)
			}
		case processSeries[name] != "":
			for _, m := range f.GetMetric() {
				out.Process = put(out.Process, processSeries[name], value(f, m))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(workers)) {
		w := workers[k]
		w.Failing = w.failing()
		out.Workers = append(out.Workers, *w)
	}
	for _, k := range slices.SortedFunc(maps.Keys(consumers), func(a, b [2]string) int {
		return strings.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1])
	}) {
		out.Consumers = append(out.Consumers, *consumers[k])
	}
	for _, k := range slices.Sorted(maps.Keys(panels)) {
		out.Panels = append(out.Panels, *panels[k])
	}
	return out, err
}

// buildVersion is what the status page shows of a vpnbot_build_info
// series: the version, and the revision too unless the version names it
// already (git describe of an untagged commit does; "dev", from a build
// make build did not stamp, does not).
func buildVersion(m *dto.Metric) string {
	version, revision := label(m, "version"), label(m, "revision")
	if revision == "" || strings.Contains(version, shortRevision(revision)) {
		return version
	}
	return version + " (" + shortRevision(revision) + ")"
}

// shortRevision is a commit as git abbreviates it.
func shortRevision(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

func addWorkerFamily(workers map[string]*WorkerMetrics, f *dto.MetricFamily, now time.Time) {
	short := strings.TrimPrefix(f.GetName(), workerPrefix)
	for _, m := range f.GetMetric() {
		name := label(m, "worker")
		w, ok := workers[name]
		if !ok {
			w = &WorkerMetrics{Worker: name, IterationsTotal: map[string]float64{}}
			workers[name] = w
		}
		switch {
		case short == "last_success_timestamp_seconds":
			if ts := m.GetGauge().GetValue(); ts > 0 {
				w.LastSuccessAge = age(now, time.Unix(0, int64(ts*float64(time.Second))))
			}
		case short == "iterations_total":
			w.IterationsTotal[label(m, "outcome")] += m.GetCounter().GetValue()
		case short == "items_total":
			w.ItemsTotal = put(w.ItemsTotal, label(m, "item"), m.GetCounter().GetValue())
		case short == "last_iteration_items":
			w.LastItems = put(w.LastItems, label(m, "item"), m.GetGauge().GetValue())
		case f.GetType() == dto.MetricType_HISTOGRAM:
			w.MeanDuration = mean(m.GetHistogram())
		case f.GetType() == dto.MetricType_GAUGE:
			w.Gauges = put(w.Gauges, short, m.GetGauge().GetValue())
		}
	}
}

// failing reports whether w's iterations fail now: some failed since start,
// and none ended ok for failingAfter intervals (ever, when it has none).
func (w *WorkerMetrics) failing() bool {
	failed := w.IterationsTotal[worker.OutcomeError] + w.IterationsTotal[worker.OutcomeTimeout]
	if failed == 0 {
		return false
	}
	interval, ok := w.Gauges["interval_seconds"]
	return w.LastSuccessAge == nil || ok && *w.LastSuccessAge > failingAfter*interval
}

func addConsumerFamily(consumers map[[2]string]*ConsumerMetrics, f *dto.MetricFamily) {
	short := strings.TrimPrefix(f.GetName(), consumerPrefix)
	for _, m := range f.GetMetric() {
		key := [2]string{label(m, "stream"), label(m, "consumer")}
		c, ok := consumers[key]
		if !ok {
			c = &ConsumerMetrics{Stream: key[0], Consumer: key[1]}
			consumers[key] = c
		}
		switch {
		case short == "messages_total":
			c.DeliveriesTotal = put(c.DeliveriesTotal, label(m, "outcome"), m.GetCounter().GetValue())
		case f.GetType() == dto.MetricType_HISTOGRAM:
			c.MeanHandler = mean(m.GetHistogram())
		case f.GetType() == dto.MetricType_GAUGE:
			c.Gauges = put(c.Gauges, short, m.GetGauge().GetValue())
		case f.GetType() == dto.MetricType_COUNTER:
			c.Counters = put(c.Counters, short, m.GetCounter().GetValue())
		}
	}
}

// put adds v to m[k], making m when it is nil, and returns m.
func put(m map[string]float64, k string, v float64) map[string]float64 {
	if m == nil {
		m = map[string]float64{}
	}
	m[k] += v
	return m
}

func mean(h *dto.Histogram) *float64 {
	if h.GetSampleCount() == 0 {
		return nil
	}
	v := h.GetSampleSum() / float64(h.GetSampleCount())
	return &v
}

// value is a counter's, gauge's or untyped series' value; a histogram or
// summary gives its count.
func value(f *dto.MetricFamily, m *dto.Metric) float64 {
	switch f.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	case dto.MetricType_SUMMARY:
		return float64(m.GetSummary().GetSampleCount())
	default:
		return m.GetUntyped().GetValue()
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
