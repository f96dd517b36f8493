package shop_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/shop/shoptest"
)

// bigTables are the tables that grow with the business: a worker's
// selection query must never read one of them whole.
var bigTables = []string{"subscriptions", "vpn_accesses", "invoices", "users", "notifications_sent"}

// BenchmarkSelectionQueries runs the workers' selection queries that live in
// the shop (activation's, expiry-cleanup's, the payment-watcher's poll and
// its announcement catch-up) over 100,000 subscriptions, prints each plan and
// its time, and fails when one reads a growing table whole. Run it with
// -benchtime 1x (make bench does).
func BenchmarkSelectionQueries(b *testing.B) {
	const n = 100_000
	db := pgdbtest.New(b)
	shoptest.Seed(b, db.Pool, n)
	calls := []struct {
		name string
		call func(context.Context, *shop.Shop) error
	}{
		{"activation: PendingActivations", func(ctx context.Context, s *shop.Shop) error {
			_, err := s.PendingActivations(ctx, 100)
			return err
		}},
		{"expiry-cleanup: ExpiredUnrevoked", func(ctx context.Context, s *shop.Shop) error {
			_, err := s.ExpiredUnrevoked(ctx, time.Hour, 100)
			return err
		}},
		{"payment-watcher: PendingInvoices", func(ctx context.Context, s *shop.Shop) error {
			_, err := s.PendingInvoices(ctx, shop.ProviderCryptoPay, 1000)
			return err
		}},
		{"payment-watcher: UnannouncedPayments", func(ctx context.Context, s *shop.Shop) error {
			_, err := s.UnannouncedPayments(ctx, shop.ProviderCryptoPay, 1000)
			return err
		}},
	}
	for range b.N {
		for _, c := range calls {
			plans := pgdbtest.ExplainCalls(b, db.DSN, func(ctx context.Context, pool *pgxpool.Pool) error {
				return c.call(ctx, shop.New(pool, shop.Config{}))
			})
			for _, p := range plans {
				b.Logf("%s over %d subscriptions: %s\n%s\n%s", c.name, n, p.Took, p.SQL, p.Text)
				for _, t := range p.SeqScans() {
					for _, big := range bigTables {
						if t == big {
							b.Fatalf("%s reads %s whole:\n%s", c.name, t, p.Text)
						}
					}
				}
				b.ReportMetric(float64(p.Took.Microseconds())/1000, fmt.Sprintf("ms/%s", metricName(c.name)))
			}
		}
	}
}

func metricName(s string) string {
	out := []rune{}
	for _, r := range s {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' {
			out = append(out, r)
		}
	}
	return string(out)
}
