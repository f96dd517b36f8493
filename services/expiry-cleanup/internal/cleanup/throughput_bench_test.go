package cleanup_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/cleanup"
)

// The benchmark of expiry-cleanup against an Outline panel whose calls take
// panelLatency, as a fraction of the bound the concurrency allows.
const (
	benchPeriods = 200
	panelLatency = 20 * time.Millisecond
	boundGoal    = 0.8
)

// BenchmarkThroughput revokes benchPeriods periods past expiry + grace
// whose keys are live on the panel, with the default concurrency, and
// reports periods/s and the fraction of Concurrency/panelLatency reached.
// Only the iterations are timed, not the seeding.
func BenchmarkThroughput(b *testing.B) {
	e := newEnv(b, vpn.KindOutline)
	// A silent logger: formatting 400 log lines is not what is measured.
	fleet := e.fleet(b, 0)
	c, err := cleanup.New(cleanup.Config{}, e.shop, e.db.Pool, e.js, fleet, zerolog.Nop(), nil)
	if err != nil {
		b.Fatalf("making the cleaner: %v", err)
	}
	e.sb.Latency(panelLatency)

	var (
		elapsed time.Duration
		items   int
	)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		e.seedExpired(b, fleet, benchPeriods)
		b.StartTimer()
		start := time.Now()
		revoked := 0
		// Each iteration takes BatchSize periods; a few spare ones catch a
		// worker that stalls instead of looping for ever.
		for iter := 0; revoked < benchPeriods; iter++ {
			if iter > 2*benchPeriods/cleanup.DefaultBatchSize+3 {
				b.Fatalf("only %d of %d periods revoked after %d iterations", revoked, benchPeriods, iter)
			}
			ctx, cancel := context.WithTimeout(b.Context(), waitFor)
			res, err := c.Iterate(ctx)
			cancel()
			if err != nil {
				b.Fatalf("iteration %d: %v", iter, err)
			}
			revoked += res[cleanup.ItemRevoked]
		}
		elapsed += time.Since(start)
		items += revoked
	}
	b.StopTimer()

	if calls := e.revokeCalls(); calls != items {
		b.Fatalf("%d disables reached the panel, want one per period (%d)", calls, items)
	}
	rate := float64(items) / elapsed.Seconds()
	bound := float64(cleanup.DefaultConcurrency) / panelLatency.Seconds()
	b.ReportMetric(rate, "items/s")
	b.ReportMetric(rate/bound, "fraction_of_bound")
	b.Logf("expiry-cleanup: %d periods in %v = %.1f/s; bound %d / %v = %.0f/s; fraction %.2f (goal >= %.2f)",
		items, elapsed.Round(time.Millisecond), rate, cleanup.DefaultConcurrency, panelLatency, bound, rate/bound, boundGoal)
}

// seedExpired registers n users whose trials were activated on the panel
// (as activeKey does) and then ended two hours ago, past the default grace:
// n live accounts to disable.
func (e *env) seedExpired(b *testing.B, f *vpn.Fleet, n int) {
	b.Helper()
	ids := make([]int64, 0, n)
	for range n {
		userID := newUserID()
		if _, err := e.db.Pool.Exec(b.Context(), `INSERT INTO users (id, chat_id, language) VALUES ($1, $1, 'en')`, userID); err != nil {
			b.Fatalf("registering user %d: %v", userID, err)
		}
		sub, err := e.shop.StartTrial(b.Context(), userID)
		if err != nil {
			b.Fatalf("starting the trial of user %d: %v", userID, err)
		}
		if _, err := e.shop.Activate(b.Context(), sub.ID, f); err != nil {
			b.Fatalf("activating subscription %d: %v", sub.ID, err)
		}
		ids = append(ids, sub.ID)
	}
	if _, err := e.db.Pool.Exec(b.Context(), `UPDATE subscriptions
		SET starts_at = date_trunc('second', now()) - interval '100 hours',
		    expires_at = date_trunc('second', now()) - interval '2 hours'
		WHERE id = ANY($1)`, ids); err != nil {
		b.Fatalf("expiring the seeded periods: %v", err)
	}
}
