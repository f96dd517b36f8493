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

	"github.com/vpnbot/vpnbot/pkg/localstack"
)

// Metrics is what the status page shows of a service's /metrics. It reads
// metric families by their prefix, not a fixed list, so series that services
// add later show up (a new vpnbot_consumer_* gauge joins Gauges) and absent
// ones are simply left out.
type Metrics struct {
	Workers   []WorkerMetrics   `json:"workers,omitempty"`
	Consumers []ConsumerMetrics `json:"consumers,omitempty"`
	// Pool is the PostgreSQL pool's vpnbot_db_pool_* series by the rest of
	// their name, e.g. "acquired_conns" and "max_conns".
	Pool map[string]float64 `json:"pool,omitempty"`
	// DLQ is every series whose metric name mentions the dead-letter queue,
	// by its exposition name (labels included).
	DLQ map[string]float64 `json:"dlq,omitempty"`
	// Process is the Go runtime's and the process's own: goroutines,
	// resident memory, CPU seconds.
	Process map[string]float64 `json:"process,omitempty"`
}

// WorkerMetrics is one background worker's vpnbot_worker_* series.
type WorkerMetrics struct {
	Worker string `json:"worker"`
	// LastSuccessAge is the time since the last iteration that ended ok,
	// in seconds; nil when none has yet.
	LastSuccessAge *float64           `json:"last_success_age_seconds"`
	Iterations     map[string]float64 `json:"iterations"` // by outcome
	// MeanDuration is the mean iteration time in seconds; nil before the
	// first iteration ended.
	MeanDuration *float64 `json:"mean_duration_seconds"`
	// Gauges are the other gauges by the rest of their name, e.g.
	// "leader" and "abandoned_iterations".
	Gauges map[string]float64 `json:"gauges,omitempty"`
	Items  map[string]float64 `json:"items,omitempty"` // vpnbot_worker_items_total by item
}

// ConsumerMetrics is one stream consumer's vpnbot_consumer_* series.
type ConsumerMetrics struct {
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	// Gauges by the rest of their name: "pending" (the lag), "gate_closed",
	// "abandoned_handlers", and whatever is added later.
	Gauges   map[string]float64 `json:"gauges,omitempty"`
	Messages map[string]float64 `json:"messages,omitempty"` // handled deliveries by outcome
	// Counters are the other counters by the rest of their name, e.g.
	// "redeliveries_total".
	Counters map[string]float64 `json:"counters,omitempty"`
	// MeanHandler is the mean handler time in seconds; nil before the first.
	MeanHandler *float64 `json:"mean_handler_seconds"`
}

const (
	workerPrefix   = "vpnbot_worker_"
	consumerPrefix = "vpnbot_consumer_"
	poolPrefix     = "vpnbot_db_pool_"
)

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
	for _, name := range slices.Sorted(maps.Keys(families)) {
		f := families[name]
		switch {
		case strings.HasPrefix(name, workerPrefix):
			addWorkerFamily(workers, f, now)
		case strings.HasPrefix(name, consumerPrefix):
			addConsumerFamily(consumers, f)
		case strings.HasPrefix(name, poolPrefix):
			for _, m := range f.GetMetric() {
				out.Pool = put(out.Pool, strings.TrimPrefix(name, poolPrefix), value(f, m))
			}
		case processSeries[name] != "":
			for _, m := range f.GetMetric() {
				out.Process = put(out.Process, processSeries[name], value(f, m))
			}
		}
		if strings.Contains(name, "dlq") {
			for _, m := range f.GetMetric() {
				out.DLQ = put(out.DLQ, name+localstack.SeriesLabels(m), value(f, m))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(workers)) {
		out.Workers = append(out.Workers, *workers[k])
	}
	for _, k := range slices.SortedFunc(maps.Keys(consumers), func(a, b [2]string) int {
		return strings.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1])
	}) {
		out.Consumers = append(out.Consumers, *consumers[k])
	}
	return out, err
}

func addWorkerFamily(workers map[string]*WorkerMetrics, f *dto.MetricFamily, now time.Time) {
	short := strings.TrimPrefix(f.GetName(), workerPrefix)
	for _, m := range f.GetMetric() {
		name := label(m, "worker")
		w, ok := workers[name]
		if !ok {
			w = &WorkerMetrics{Worker: name, Iterations: map[string]float64{}}
			workers[name] = w
		}
		switch {
		case short == "last_success_timestamp_seconds":
			if ts := m.GetGauge().GetValue(); ts > 0 {
				age := max(0, now.Sub(time.Unix(0, int64(ts*float64(time.Second)))).Seconds())
				w.LastSuccessAge = &age
			}
		case short == "iterations_total":
			w.Iterations[label(m, "outcome")] += m.GetCounter().GetValue()
		case short == "items_total":
			w.Items = put(w.Items, label(m, "item"), m.GetCounter().GetValue())
		case f.GetType() == dto.MetricType_HISTOGRAM:
			w.MeanDuration = mean(m.GetHistogram())
		case f.GetType() == dto.MetricType_GAUGE:
			w.Gauges = put(w.Gauges, short, m.GetGauge().GetValue())
		}
	}
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
			c.Messages = put(c.Messages, label(m, "outcome"), m.GetCounter().GetValue())
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
