package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// TestDemoPlanIsOfferedAtDemoScaleOnly is the demo plan as the bot sees it
// through the shop: absent from a database the devstack ran at the real
// scale only; offered first, for 20 minutes, at the demo scale, however
// often it starts; taken off offer at the real scale again, where an order
// made for it is still honoured.
func TestDemoPlanIsOfferedAtDemoScaleOnly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := pgdbtest.New(t)
	now := time.Now().UTC().Truncate(time.Second)
	sh := shop.New(db.Pool, shop.Config{NowFunc: func() time.Time { return now }})
	offered := func() []string {
		t.Helper()
		plans, err := sh.Plans(ctx)
		require.NoError(t, err)
		ids := make([]string, len(plans))
		for i, p := range plans {
			ids[i] = p.ID
		}
		return ids
	}
	seeded := []string{"m1", "m3", "m12"}

	require.NoError(t, offerDemoPlan(ctx, db.DSN, ScaleReal))
	require.Equal(t, seeded, offered())
	var rows int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM plans WHERE id = $1`, demoPlanID).Scan(&rows))
	require.Zero(t, rows, "the real scale wrote a demo plan")

	for range 2 {
		require.NoError(t, offerDemoPlan(ctx, db.DSN, ScaleDemo))
		require.Equal(t, append([]string{demoPlanID}, seeded...), offered())
	}
	p, err := sh.Plan(ctx, demoPlanID)
	require.NoError(t, err)
	require.Equal(t, shop.Plan{ID: demoPlanID, TitleEN: "Demo", TitleRU: "Демо", Duration: 20 * time.Minute,
		PriceUSD: "0.50", PriceStars: 1}, p)

	_, err = db.Pool.Exec(ctx, `INSERT INTO users (id, chat_id) VALUES (1, 1)`)
	require.NoError(t, err)
	inv, err := sh.CreateOrder(ctx, 1, demoPlanID, shop.ProviderStars)
	require.NoError(t, err)
	require.NoError(t, offerDemoPlan(ctx, db.DSN, ScaleReal))
	require.Equal(t, seeded, offered())
	_, err = sh.Plan(ctx, demoPlanID)
	require.ErrorIs(t, err, shop.ErrUnknownPlan)
	sub, applied, err := sh.ApplyPayment(ctx, inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, now.Add(20*time.Minute), sub.ExpiresAt, "an order made at the demo scale grants its 20 minutes")

	require.NoError(t, offerDemoPlan(ctx, db.DSN, ScaleDemo))
	require.Equal(t, append([]string{demoPlanID}, seeded...), offered())
}
