package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

// metrics are one worker's series, labelled worker=<name>.
type metrics struct {
	iterations map[string]prometheus.Counter // by outcome
	duration   prometheus.Observer
	items      *prometheus.CounterVec // worker, item
	lastItems  *prometheus.GaugeVec   // worker, item
	// reported are the items any iteration has reported, which the next
	// one's lastItems are set for, at 0 when it does not report them. Only
	// the loop touches it, one iteration's end at a time.
	reported    map[string]bool
	lastSuccess prometheus.Gauge
	interval    prometheus.Gauge
	abandoned   prometheus.Gauge
	leader      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, name string, singleton bool, every time.Duration) (*metrics, error) {
	iterations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_worker_iterations_total",
		Help: "Worker iterations, by outcome (ok, error, timeout, canceled).",
	}, []string{"worker", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vpnbot_worker_iteration_duration_seconds",
		Help:    "Time from an iteration's start to its end (its timeout when abandoned).",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"worker"})
	items := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_worker_items_total",
		Help: "Items the worker's iterations reported, by item (e.g. sent, skipped).",
	}, []string{"worker", "item"})
	// The counter above sums what every iteration found, which for an item
	// such as "pending" is no count of anything now; this says what the
	// last one found.
	lastItems := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_worker_last_iteration_items",
		Help: "Items the last iteration reported, by item; an item it did not report, or all of an abandoned iteration's, reads 0.",
	}, []string{"worker", "item"})
	lastSuccess := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_worker_last_success_timestamp_seconds",
		Help: "Unix time the last iteration with outcome ok ended.",
	}, []string{"worker"})
	// The interval is exported so that one alert rule can say "no success
	// for N intervals" for workers whose intervals differ.
	interval := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_worker_interval_seconds",
		Help: "The worker's configured interval between iteration starts (WORKER_INTERVAL).",
	}, []string{"worker"})
	abandoned := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_worker_abandoned_iterations",
		Help: "Iterations given up at their timeout that have still not returned.",
	}, []string{"worker"})
	leader := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpnbot_worker_leader",
		Help: "1 while this replica runs the singleton worker's loop, else 0.",
	}, []string{"worker"})

	if reg != nil {
		var err error
		if iterations, err = obs.Register(reg, iterations); err != nil {
			return nil, err
		}
		if duration, err = obs.Register(reg, duration); err != nil {
			return nil, err
		}
		if items, err = obs.Register(reg, items); err != nil {
			return nil, err
		}
		if lastItems, err = obs.Register(reg, lastItems); err != nil {
			return nil, err
		}
		if lastSuccess, err = obs.Register(reg, lastSuccess); err != nil {
			return nil, err
		}
		if interval, err = obs.Register(reg, interval); err != nil {
			return nil, err
		}
		if abandoned, err = obs.Register(reg, abandoned); err != nil {
			return nil, err
		}
		// Only a singleton has a leader to show; on others the series would
		// read as "not leading".
		if singleton {
			if leader, err = obs.Register(reg, leader); err != nil {
				return nil, err
			}
		}
	}
	m := &metrics{
		iterations:  map[string]prometheus.Counter{},
		duration:    duration.WithLabelValues(name),
		items:       items,
		lastItems:   lastItems,
		reported:    map[string]bool{},
		lastSuccess: lastSuccess.WithLabelValues(name),
		interval:    interval.WithLabelValues(name),
		abandoned:   abandoned.WithLabelValues(name),
		leader:      leader.WithLabelValues(name),
	}
	// Every outcome exists from the start, so rate() sees the first increase.
	for _, o := range []string{OutcomeOK, OutcomeError, OutcomeTimeout, OutcomeCanceled} {
		m.iterations[o] = iterations.WithLabelValues(name, o)
	}
	if singleton {
		m.leader.Set(0)
	}
	m.interval.Set(every.Seconds())
	return m, nil
}
