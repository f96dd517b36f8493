package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/services/reminders/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// BenchmarkClaimDueOver100kSubscriptions times one claim of a full batch
// among 100,000 active subscriptions whose expiries are spread over 60
// days (about 5 % inside the 72 h window), and logs the statement's plan,
// which must reach the subscriptions through their expiry index.
//
//	go test -run '^$' -bench ClaimDue ./internal/store
func BenchmarkClaimDueOver100kSubscriptions(b *testing.B) {
	db := pgdbtest.New(b)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	for _, sql := range []string{
		`INSERT INTO users (id, chat_id, language) SELECT g, g, 'en' FROM generate_series(1, 100000) g`,
		`INSERT INTO subscriptions (user_id, kind, starts_at, expires_at)
		 SELECT g, 'paid', $1::timestamptz - interval '30 days', $1::timestamptz + (g % 86400) * interval '60 seconds'
		 FROM generate_series(1, 100000) g`,
		`ANALYZE users`, `ANALYZE subscriptions`,
	} {
		args := []any{}
		if strings.Contains(sql, "$1") {
			args = append(args, now)
		}
		_, err := db.Pool.Exec(ctx, sql, args...)
		require.NoError(b, err)
	}
	stages := []store.Stage{{Kind: "paid_ended"}, {Before: time.Hour, Kind: "reminder_1h"},
		{Before: 24 * time.Hour, Kind: "reminder_24h"}, {Before: 72 * time.Hour, Kind: "reminder_72h"}}
	const batch = 500

	rows, err := db.Pool.Query(ctx, "EXPLAIN "+store.ClaimSQL, now, []int64{0, 3600, 86400, 259200},
		[]string{"paid_ended", "reminder_1h", "reminder_24h", "reminder_72h"}, int64(259200), batch, now.Add(-time.Hour), int64(3600))
	require.NoError(b, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(b, err)
	plan := strings.Join(lines, "\n")
	b.Logf("plan:\n%s", plan)
	require.Contains(b, plan, "subscriptions_active_expires_at", "the due periods are found through the expiry index")

	s := store.New(db.Pool)
	for b.Loop() {
		claims, err := s.ClaimDue(ctx, now, now.Add(-time.Hour), stages, time.Hour, batch)
		require.NoError(b, err)
		require.NotEmpty(b, claims)
		b.StopTimer()
		// Unclaimed again, so every claim does the same work.
		_, err = db.Pool.Exec(ctx, `DELETE FROM notifications_sent`)
		require.NoError(b, err)
		b.StartTimer()
	}
}
