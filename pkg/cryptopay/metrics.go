package cryptopay

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnbot/vpnbot/pkg/obs"
)

// Outcomes of a call (the outcome label of vpnbot_cryptopay_requests_total).
const (
	outcomeOK          = "ok"
	outcomeRefused     = "refused"     // an APIError that is not transient
	outcomeUnavailable = "unavailable" // ErrUnavailable
	outcomeError       = "error"       // anything else: a broken answer, a bad request built by us
)

// metrics are the client's series; nil when no Registerer was given.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpnbot_cryptopay_requests_total",
		Help: "Crypto Pay API calls by method and outcome (ok, refused, unavailable, error).",
	}, []string{"method", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vpnbot_cryptopay_request_duration_seconds",
		Help:    "Time a Crypto Pay API call took, answer read included.",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"method"})
	var err error
	if requests, err = obs.Register(reg, requests); err != nil {
		return nil, err
	}
	if duration, err = obs.Register(reg, duration); err != nil {
		return nil, err
	}
	return &metrics{requests: requests, duration: duration}, nil
}

func (m *metrics) observe(method string, began time.Time, err error) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(method).Observe(time.Since(began).Seconds())
	outcome := outcomeOK
	var apiErr *APIError
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable):
		outcome = outcomeUnavailable
	case errors.As(err, &apiErr):
		outcome = outcomeRefused
	default:
		outcome = outcomeError
	}
	m.requests.WithLabelValues(method, outcome).Inc()
}
