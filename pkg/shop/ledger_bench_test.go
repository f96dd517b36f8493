package shop_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// BenchmarkLedgerPurchases makes 1,000 purchases from the balance at once,
// ten by each of 100 users whose balances pay for seven, through a pool of
// 20 connections, and reports how long they took. Every run is checked:
// exactly seven purchases per user, each adding its month, the rest refused
// for the balance, every balance the sum of its rows and none negative.
// Run it with -benchtime 1x (make bench does).
func BenchmarkLedgerPurchases(b *testing.B) {
	const users, each, affordable = 100, 10, 7
	for range b.N {
		b.StopTimer()
		db := pgdbtest.New(b)
		cfg, err := pgxpool.ParseConfig(db.DSN)
		require.NoError(b, err)
		cfg.MaxConns = 20
		pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
		require.NoError(b, err)
		now := time.Now().UTC().Truncate(time.Second)
		s := shop.New(pool, shop.Config{NowFunc: func() time.Time { return now }})
		_, err = pool.Exec(b.Context(), `INSERT INTO users (id, chat_id) SELECT g, g FROM generate_series(1, $1::int) g`, users)
		require.NoError(b, err)
		_, err = pool.Exec(b.Context(), `INSERT INTO ledger (op_key, user_id, kind, currency, amount, money, created_at)
			SELECT 'grant:seed:' || g, g, 'grant', 'XTR', $2::bigint, 0, now() FROM generate_series(1, $1::int) g`,
			users, affordable*250)
		require.NoError(b, err)

		var bought, refused, failed atomic.Int32
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		for u := range users {
			for i := range each {
				wg.Go(func() {
					_, _, err := s.BuyFromBalance(context.Background(), fmt.Sprintf("purchase:bench:%d:%d", u, i), int64(u+1), "m1", shop.CurrencyXTR)
					switch {
					case err == nil:
						bought.Add(1)
					case errors.Is(err, shop.ErrInsufficientBalance):
						refused.Add(1)
					default:
						failed.Add(1)
						b.Error(err)
					}
				})
			}
		}
		wg.Wait()
		took := time.Since(start)
		b.StopTimer()

		anomalies := 0
		count := func(sql string, args ...any) int {
			var n int
			require.NoError(b, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
			return n
		}
		anomalies += count(`SELECT count(*) FROM (
			SELECT user_id, currency, sum(amount) AS total FROM ledger GROUP BY user_id, currency) l
			FULL JOIN balances USING (user_id, currency) WHERE COALESCE(total, 0) <> COALESCE(amount, 0)`)
		anomalies += count(`SELECT count(*) FROM balances WHERE amount <> 0`)
		anomalies += count(`SELECT count(*) FROM subscriptions WHERE expires_at <> $1`, now.Add(affordable*30*24*time.Hour))
		require.EqualValues(b, users*affordable, bought.Load())
		require.EqualValues(b, users*(each-affordable), refused.Load())
		require.Zero(b, failed.Load())
		require.Zero(b, anomalies, "balances against the ledger, leftovers, expiries")
		b.ReportMetric(float64(took.Milliseconds()), "ms/1000-purchases")
		b.ReportMetric(float64(users*each)/took.Seconds(), "purchases/s")
		b.ReportMetric(float64(anomalies), "anomalies")
		b.Logf("1,000 purchases from 100 balances at once: %s, %d bought, %d refused for the balance, %d anomalies",
			took.Round(time.Millisecond), bought.Load(), refused.Load(), anomalies)
		pool.Close()
	}
}

// BenchmarkLedgerQueries reads a user's balance and history over 1,000,000
// ledger rows of 10,000 users, prints each plan and its time, and fails
// when one reads the ledger or the balances whole. Run it with -benchtime
// 1x (make bench does).
func BenchmarkLedgerQueries(b *testing.B) {
	const users, rows = 10_000, 1_000_000
	db := pgdbtest.New(b)
	ctx := context.Background()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, chat_id) SELECT g, g FROM generate_series(1, $1::int) g`, []any{users}},
		// Payments move no balance, and make up the bulk; one top-up a user
		// gives each a balance.
		{`INSERT INTO ledger (op_key, user_id, kind, currency, money, created_at)
		  SELECT 'payment:seed:' || g, g % $1 + 1, 'payment', 'XTR', 250, now() - (g % 1000) * interval '1 hour'
		  FROM generate_series(1, $2::int - $1) g`, []any{users, rows}},
		{`INSERT INTO ledger (op_key, user_id, kind, currency, amount, money, created_at)
		  SELECT 'topup:seed:' || g, g, 'topup', 'XTR', 500, 500, now() FROM generate_series(1, $1::int) g`, []any{users}},
		{`ANALYZE`, nil},
	} {
		_, err := db.Pool.Exec(ctx, q.sql, q.args...)
		require.NoError(b, err, "seeding: %s", q.sql)
	}
	require.Equal(b, rows, countRows(b, db.Pool, `SELECT count(*) FROM ledger`))
	calls := []struct {
		name string
		call func(context.Context, *shop.Shop) error
	}{
		{"Balance", func(ctx context.Context, s *shop.Shop) error {
			n, err := s.Balance(ctx, users/2, shop.CurrencyXTR)
			if err == nil && n != 500 {
				err = fmt.Errorf("balance %d, want 500", n)
			}
			return err
		}},
		{"Balances", func(ctx context.Context, s *shop.Shop) error {
			_, err := s.Balances(ctx, users/2)
			return err
		}},
		{"History", func(ctx context.Context, s *shop.Shop) error {
			h, err := s.History(ctx, users/2, 10)
			if err == nil && len(h) != 10 {
				err = fmt.Errorf("%d rows of history, want 10", len(h))
			}
			return err
		}},
	}
	for range b.N {
		for _, c := range calls {
			plans := pgdbtest.ExplainCalls(b, db.DSN, func(ctx context.Context, pool *pgxpool.Pool) error {
				return c.call(ctx, shop.New(pool, shop.Config{}))
			})
			for _, p := range plans {
				b.Logf("%s over %d ledger rows: %s\n%s\n%s", c.name, rows, p.Took, p.SQL, p.Text)
				for _, t := range p.SeqScans() {
					if t == "ledger" || t == "balances" {
						b.Fatalf("%s reads %s whole:\n%s", c.name, t, p.Text)
					}
				}
				b.ReportMetric(float64(p.Took.Microseconds())/1000, "ms/"+c.name)
			}
		}
	}
}

func countRows(tb testing.TB, pool *pgxpool.Pool, sql string) int {
	tb.Helper()
	var n int
	require.NoError(tb, pool.QueryRow(context.Background(), sql).Scan(&n))
	return n
}
