package localstack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// TestDemoPlanIsOfferedAtDemoScaleOnly is the demo plan as the bot sees it
// through the shop: absent from a database only ever run at the real scale;
// offered first, for 20 minutes, at the demo scale, however often it is
// offered; taken off offer again, where an order made for it is still
// honoured.
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

	require.NoError(t, OfferDemoPlan(ctx, db.DSN, false))
	require.Equal(t, seeded, offered())
	var rows int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM plans WHERE id = $1`, DemoPlanID).Scan(&rows))
	require.Zero(t, rows, "the real scale wrote a demo plan")

	for range 2 {
		require.NoError(t, OfferDemoPlan(ctx, db.DSN, true))
		require.Equal(t, append([]string{DemoPlanID}, seeded...), offered())
	}
	p, err := sh.Plan(ctx, DemoPlanID)
	require.NoError(t, err)
	require.Equal(t, shop.Plan{ID: DemoPlanID, TitleEN: "Demo", TitleRU: "Демо", Duration: 20 * time.Minute,
		PriceUSD: "0.50", PriceStars: 1}, p)

	_, err = db.Pool.Exec(ctx, `INSERT INTO users (id, chat_id) VALUES (1, 1)`)
	require.NoError(t, err)
	inv, err := sh.CreateOrder(ctx, 1, DemoPlanID, shop.ProviderStars)
	require.NoError(t, err)
	require.NoError(t, OfferDemoPlan(ctx, db.DSN, false))
	require.Equal(t, seeded, offered())
	_, err = sh.Plan(ctx, DemoPlanID)
	require.ErrorIs(t, err, shop.ErrUnknownPlan)
	sub, applied, err := sh.ApplyPayment(ctx, inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, now.Add(20*time.Minute), sub.ExpiresAt, "an order made at the demo scale grants its 20 minutes")

	require.NoError(t, OfferDemoPlan(ctx, db.DSN, true))
	require.Equal(t, append([]string{DemoPlanID}, seeded...), offered())
}
