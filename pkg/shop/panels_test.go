package shop_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/vpn"
	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
)

// panel is a sandbox VPN panel and the real adapter talking to it, seen
// through what the tests need: how many accesses the panel holds, which
// calls it got, and ways to break it.
type panel struct {
	name string
	// p is the adapter; tests may wrap it.
	p shop.Provisioner
	// accesses counts the accesses on the panel.
	accesses func() int
	// has reports whether the access exists on the panel, and its expiry
	// there (zero for Outline).
	has func(id string) (time.Time, bool)
	// calls counts the calls the panel got.
	calls func() int
	// fail makes calls to the route of op ("create", "revoke") fail: with a
	// 503, or hanging until clear when hang is set.
	fail  func(op string, hang bool)
	clear func()
	// requests counts the calls the route of op got.
	requests func(op string) int
}

// panels returns a fresh sandbox of each kind, closed when the test ends.
func panels(t *testing.T) []*panel {
	t.Helper()
	return []*panel{outlinePanel(t), remnawavePanel(t)}
}

func outlinePanel(t *testing.T) *panel {
	t.Helper()
	srv := vpntest.StartOutline(t)
	p := vpntest.OutlineAdapter(t, srv, "")
	routes := map[string]string{"create": "PUT /access-keys/{id}", "revoke": "DELETE /access-keys/{id}"}
	return &panel{
		name:     "outline",
		p:        p,
		accesses: func() int { return len(srv.Keys()) },
		has: func(id string) (time.Time, bool) {
			_, ok := srv.Key(id)
			return time.Time{}, ok
		},
		calls:    func() int { return srv.Requests("") },
		fail:     func(op string, hang bool) { srv.Inject(outlineFault(routes[op], hang)) },
		clear:    srv.ClearFaults,
		requests: func(op string) int { return srv.Requests(routes[op]) },
	}
}

func outlineFault(route string, hang bool) outline.Fault {
	if hang {
		return outline.Fault{Route: route, Hang: true}
	}
	return outline.Fault{Route: route, Status: http.StatusServiceUnavailable}
}

func remnawavePanel(t *testing.T) *panel {
	t.Helper()
	srv := vpntest.StartRemnawave(t)
	p := vpntest.RemnawaveAdapter(t, srv, "")
	routes := map[string]string{"create": "POST /api/users", "revoke": "DELETE /api/users/{uuid}"}
	return &panel{
		name:     "remnawave",
		p:        p,
		accesses: func() int { return len(srv.Users()) },
		has: func(id string) (time.Time, bool) {
			for _, u := range srv.Users() {
				if u.UUID == id {
					return u.ExpireAt, true
				}
			}
			return time.Time{}, false
		},
		calls: func() int { return srv.Requests("") },
		fail: func(op string, hang bool) {
			f := remnawave.Fault{Route: routes[op], Status: http.StatusServiceUnavailable}
			if hang {
				f = remnawave.Fault{Route: routes[op], Hang: true}
			}
			srv.Inject(f)
		},
		clear:    srv.ClearFaults,
		requests: func(op string) int { return srv.Requests(routes[op]) },
	}
}

// noOpenTransaction wraps a provisioner and fails the test if, while the
// shop calls the panel, the shop's pool holds a connection or PostgreSQL sees
// one of its sessions in a transaction or a query.
type noOpenTransaction struct {
	shop.Provisioner
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

func (n *noOpenTransaction) Create(ctx context.Context, p vpn.Period) (vpn.Access, error) {
	n.check(ctx, fmt.Sprintf("Create(%d)", p.SubscriptionID))
	return n.Provisioner.Create(ctx, p)
}

func (n *noOpenTransaction) Extend(ctx context.Context, id string, at time.Time) error {
	n.check(ctx, "Extend("+id+")")
	return n.Provisioner.Extend(ctx, id, at)
}

func (n *noOpenTransaction) Revoke(ctx context.Context, id string) error {
	n.check(ctx, "Revoke("+id+")")
	return n.Provisioner.Revoke(ctx, id)
}
