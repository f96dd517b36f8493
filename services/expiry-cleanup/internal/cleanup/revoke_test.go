package cleanup_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/clocktest"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/cleanup"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/store"
)

// claimWithoutRevoking claims the period for revocation at now as a replica
// does, on a database session of its own, and revokes nothing: a replica
// stopped between the two. Closing the returned pool is that replica dying;
// pid is its session.
func (e *env) claimWithoutRevoking(t *testing.T, sub shop.Subscription, now time.Time) (pool *pgxpool.Pool, pid int32) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(e.db.DSN)
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err = pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	ok, err := store.New(pool).ClaimRevocation(t.Context(), sub.ID, sub.ExpiresAt, now, now.Add(-cleanup.DefaultClaimTTL))
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT pg_backend_pid()`).Scan(&pid))
	return pool, pid
}

// waitSessionEnded waits until the server has ended session pid, which it
// does moments after its connection closed.
func (e *env) waitSessionEnded(t *testing.T, pid int32) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, e.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&n))
		return n == 0
	}, waitFor, poll, "the server never ended session %d", pid)
}

// A replica killed after claiming a period leaves its claim: the next
// iteration, of any replica, takes it and revokes the key, well within the
// claim's lifetime (which waitFor is far shorter than).
func TestARevocationWhoseReplicaDiedIsTakenOverByTheNextIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "outline")
	in := e.instance(t, cleanup.Config{})
	sub := e.expire(t, e.activeKey(t, "en").ID, 2*time.Hour)
	dying, pid := e.claimWithoutRevoking(t, sub, time.Now())

	res := iterateOK(t, in)
	require.Equal(t, 1, res[cleanup.ItemClaimed], "the claim of a live replica is its own")
	require.Zero(t, res[cleanup.ItemRevoked])
	require.True(t, e.onPanel(t, e.sub(t, sub.ID)))

	dying.Close()
	e.waitSessionEnded(t, pid)
	res = iterateOK(t, in)
	require.Equal(t, 1, res[cleanup.ItemRevoked], "the dead replica's claim was not taken over")
	require.Equal(t, 1, res[cleanup.ItemNotified])
	got := e.sub(t, sub.ID)
	require.Equal(t, shop.StatusRevoked, got.Status)
	require.False(t, e.onPanel(t, got), "the key is gone from the panel")

	res = iterateOK(t, in)
	require.Zero(t, res[cleanup.ItemRevoked]+res[cleanup.ItemClaimed]+res[cleanup.ItemNotified])
	require.Len(t, e.messages(t), 1, "the user is told once")
}

// A replica that hangs after claiming a period keeps its session: its claim
// holds for the claim's lifetime, then the next iteration takes it.
func TestARevocationWhoseReplicaHangsIsTakenOverAfterTheClaimTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "outline")
	clk := clocktest.New(time.Now())
	in := e.instance(t, cleanup.Config{NowFunc: clk.Now})
	sub := e.expire(t, e.activeKey(t, "en").ID, 2*time.Hour)
	e.claimWithoutRevoking(t, sub, clk.Now())

	clk.Advance(cleanup.DefaultClaimTTL - time.Second)
	res := iterateOK(t, in)
	require.Equal(t, 1, res[cleanup.ItemClaimed], "a claim within its lifetime is not taken over")
	require.True(t, e.onPanel(t, e.sub(t, sub.ID)))

	clk.Advance(2 * time.Second)
	res = iterateOK(t, in)
	require.Equal(t, 1, res[cleanup.ItemRevoked])
	require.Equal(t, 1, res[cleanup.ItemNotified])
	got := e.sub(t, sub.ID)
	require.Equal(t, shop.StatusRevoked, got.Status)
	require.False(t, e.onPanel(t, got))
	require.Len(t, e.messages(t), 1)
}
