package shop_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// forEachPanel runs test as a parallel subtest against a sandbox panel of
// each kind, in a fleet of that one panel, each with a fresh shop in which
// user 1 has just started their trial, sub.
func forEachPanel(t *testing.T, test func(t *testing.T, e *env, sb *vpntest.Sandbox, f *vpn.Fleet, sub shop.Subscription)) {
	t.Helper()
	for _, kind := range vpntest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			sb := vpntest.StartSandbox(t, kind)
			e := newEnv(t)
			test(t, e, sb, sb.Fleet(t), e.trial(t, 1))
		})
	}
}

// noOpenTransaction wraps a panel and fails the test if, while the shop
// calls it, the shop's pool holds a connection or PostgreSQL sees one of its
// sessions in a transaction or a query.
type noOpenTransaction struct {
	vpn.Panel
	t       *testing.T
	pool    *pgxpool.Pool // the shop's
	monitor *pgxpool.Pool // another pool, to ask pg_stat_activity
	appName string        // the shop pool's application_name
	checked int
}

func (n *noOpenTransaction) check(ctx context.Context, call string) {
	n.t.Helper()
	n.checked++
	require.Zero(n.t, n.pool.Stat().AcquiredConns(), "%s: the shop holds a connection during the panel call", call)
	var busy []string
	rows, err := n.monitor.Query(ctx, `SELECT state || ': ' || query FROM pg_stat_activity
		WHERE application_name = $1 AND state <> 'idle'`, n.appName)
	require.NoError(n.t, err)
	defer rows.Close()
	for rows.Next() {
		var s string
		require.NoError(n.t, rows.Scan(&s))
		busy = append(busy, s)
	}
	require.NoError(n.t, rows.Err())
	require.Empty(n.t, busy, "%s: sessions of the shop are busy during the panel call", call)
}

func (n *noOpenTransaction) CreateAccount(ctx context.Context, o vpn.Owner, want vpn.State) (vpn.Account, error) {
	n.check(ctx, fmt.Sprintf("CreateAccount(%d)", o.UserID))
	return n.Panel.CreateAccount(ctx, o, want)
}

func (n *noOpenTransaction) SetAccount(ctx context.Context, ref vpn.Ref, want vpn.State) (vpn.Account, error) {
	n.check(ctx, "SetAccount("+ref.Name+")")
	return n.Panel.SetAccount(ctx, ref, want)
}

func (n *noOpenTransaction) RotateAccount(ctx context.Context, ref vpn.Ref) (vpn.Account, error) {
	n.check(ctx, "RotateAccount("+ref.Name+")")
	return n.Panel.RotateAccount(ctx, ref)
}
