package activation_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

// The benchmark of activation against an Outline panel whose calls take
// panelLatency, as a fraction of the bound the concurrency allows.
const (
	benchPeriods = 200
	panelLatency = 20 * time.Millisecond
	boundGoal    = 0.8
)

// BenchmarkThroughput activates benchPeriods pending periods with the
// default concurrency and reports periods/s and the fraction of
// Concurrency/panelLatency reached. Only the iterations are timed, not the
// seeding.
func BenchmarkThroughput(b *testing.B) {
	e := newEnv(b, vpn.KindOutline)
	// A silent logger: formatting 400 log lines is not what is measured.
	a, err := activation.New(activation.Config{}, e.shop, e.db.Pool, e.js, e.fleet(b, 0), zerolog.Nop(), nil)
	if err != nil {
		b.Fatalf("making the activator: %v", err)
	}
	e.sb.Latency(panelLatency)

	var (
		elapsed time.Duration
		items   int
	)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		e.seedPending(b, benchPeriods)
		b.StartTimer()
		start := time.Now()
		created := 0
		// Each iteration takes BatchSize periods; a few spare ones catch a
		// worker that stalls instead of looping for ever.
		for iter := 0; created < benchPeriods; iter++ {
			if iter > 2*benchPeriods/activation.DefaultBatchSize+3 {
				b.Fatalf("only %d of %d periods activated after %d iterations", created, benchPeriods, iter)
			}
			ctx, cancel := context.WithTimeout(b.Context(), waitFor)
			res, err := a.Iterate(ctx)
			cancel()
			if err != nil {
				b.Fatalf("iteration %d: %v", iter, err)
			}
			created += res["created"]
		}
		elapsed += time.Since(start)
		items += created
	}
	b.StopTimer()

	if got := e.keys(); got != items {
		b.Fatalf("the panel has %d keys, want the %d activated", got, items)
	}
	rate := float64(items) / elapsed.Seconds()
	bound := float64(activation.DefaultConcurrency) / panelLatency.Seconds()
	b.ReportMetric(rate, "items/s")
	b.ReportMetric(rate/bound, "fraction_of_bound")
	b.Logf("activation: %d periods in %v = %.1f/s; bound %d / %v = %.0f/s; fraction %.2f (goal >= %.2f)",
		items, elapsed.Round(time.Millisecond), rate, activation.DefaultConcurrency, panelLatency, bound, rate/bound, boundGoal)
}

// seedPending registers n users who take the trial (as /start does): n
// periods waiting for an access.
func (e *env) seedPending(b *testing.B, n int) {
	b.Helper()
	for range n {
		userID := newUserID()
		if _, err := e.db.Pool.Exec(b.Context(), `INSERT INTO users (id, chat_id, language) VALUES ($1, $1, 'en')`, userID); err != nil {
			b.Fatalf("registering user %d: %v", userID, err)
		}
		if _, err := e.shop.StartTrial(b.Context(), userID); err != nil {
			b.Fatalf("starting the trial of user %d: %v", userID, err)
		}
	}
}
