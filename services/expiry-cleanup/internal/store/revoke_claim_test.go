package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/store"
)

// claimTTL stands for the worker's claim lifetime; the tests set the clock.
const claimTTL = 150 * time.Second

// sessionGoneWait bounds how long the server takes to end the session of a
// closed connection: moments, more on a loaded machine.
const sessionGoneWait = 10 * time.Second

// expiredPeriod makes a user and a period of theirs that ended two hours ago,
// returning its id and expiry.
func expiredPeriod(t *testing.T, db *pgdbtest.DB, user int64) (int64, time.Time) {
	t.Helper()
	_, err := db.Pool.Exec(t.Context(), `INSERT INTO users (id, chat_id, language) VALUES ($1, $1, 'en')`, user)
	require.NoError(t, err)
	var (
		id        int64
		expiresAt time.Time
	)
	require.NoError(t, db.Pool.QueryRow(t.Context(), `INSERT INTO subscriptions (user_id, kind, status, starts_at, expires_at)
		VALUES ($1, 'paid', 'active', date_trunc('second', now()) - interval '3 days', date_trunc('second', now()) - interval '2 hours')
		RETURNING id, expires_at`, user).Scan(&id, &expiresAt))
	return id, expiresAt
}

// replica is a store on a database session of its own, as another replica's
// is. Closing its pool is that replica dying.
func replica(t *testing.T, db *pgdbtest.DB) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.DSN)
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return store.New(pool), pool
}

// claimedBy returns the session recorded on the period's revocation claim.
func claimedBy(t *testing.T, db *pgdbtest.DB, id int64) int32 {
	t.Helper()
	var pid int32
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		`SELECT pending_pid FROM notifications_sent WHERE subscription_id = $1 AND kind = 'revoke_claim'`, id).Scan(&pid))
	return pid
}

// sessionLives reports whether the server has a session pid.
func sessionLives(t *testing.T, db *pgdbtest.DB, pid int32) bool {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&n))
	return n > 0
}

// die closes the replica's pool and waits until the server has ended its
// session pid.
func die(t *testing.T, db *pgdbtest.DB, pool *pgxpool.Pool, pid int32) {
	t.Helper()
	pool.Close()
	require.Eventually(t, func() bool { return !sessionLives(t, db, pid) }, sessionGoneWait, 10*time.Millisecond,
		"the server never ended session %d of the closed pool", pid)
}

func TestARevocationClaimOfALiveSessionIsNotTakenWithinItsLifetime(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	id, expiresAt := expiredPeriod(t, db, 3_000_001)
	holder, _ := replica(t, db)
	now := time.Now()
	ok, err := holder.ClaimRevocation(t.Context(), id, expiresAt, now, now.Add(-claimTTL))
	require.NoError(t, err)
	require.True(t, ok)

	other := store.New(db.Pool)
	for _, at := range []time.Time{now, now.Add(claimTTL - time.Second)} {
		ok, err := other.ClaimRevocation(t.Context(), id, expiresAt, at, at.Add(-claimTTL))
		require.NoError(t, err)
		require.False(t, ok, "taken %s after it was claimed, by a live session", at.Sub(now))
	}
	ok, err = holder.ClaimRevocation(t.Context(), id, expiresAt, now, now.Add(-claimTTL))
	require.NoError(t, err)
	require.False(t, ok, "a claim is not taken twice, even by its holder")
}

func TestARevocationClaimOfAnEndedSessionIsTakenAtOnce(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	id, expiresAt := expiredPeriod(t, db, 3_000_101)
	dying, pool := replica(t, db)
	now := time.Now()
	ok, err := dying.ClaimRevocation(t.Context(), id, expiresAt, now, now.Add(-claimTTL))
	require.NoError(t, err)
	require.True(t, ok)
	dead := claimedBy(t, db, id)
	die(t, db, pool, dead)

	taker, _ := replica(t, db)
	ok, err = taker.ClaimRevocation(t.Context(), id, expiresAt, now.Add(time.Second), now.Add(time.Second-claimTTL))
	require.NoError(t, err)
	require.True(t, ok, "the claim of a session that ended is taken well within the lifetime")
	pid := claimedBy(t, db, id)
	require.NotEqual(t, dead, pid)
	require.True(t, sessionLives(t, db, pid), "the claim is the taker's now")

	ok, err = store.New(db.Pool).ClaimRevocation(t.Context(), id, expiresAt, now.Add(2*time.Second), now.Add(2*time.Second-claimTTL))
	require.NoError(t, err)
	require.False(t, ok, "the taker's claim holds against the others")
}

// A replica that hangs keeps its session; its claim is taken once older
// than the lifetime.
func TestARevocationClaimOlderThanItsLifetimeIsTakenFromALiveSession(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	id, expiresAt := expiredPeriod(t, db, 3_000_201)
	hung, _ := replica(t, db)
	claimed := time.Now()
	ok, err := hung.ClaimRevocation(t.Context(), id, expiresAt, claimed, claimed.Add(-claimTTL))
	require.NoError(t, err)
	require.True(t, ok)
	pid := claimedBy(t, db, id)

	now := claimed.Add(claimTTL + time.Second)
	ok, err = store.New(db.Pool).ClaimRevocation(t.Context(), id, expiresAt, now, now.Add(-claimTTL))
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, sessionLives(t, db, pid), "the hung replica's session was alive all along")
	require.NotEqual(t, pid, claimedBy(t, db, id))
}

// Replicas that race for periods, whether unclaimed or left by a replica
// that died, get each one exactly once.
func TestOfRacingReplicasExactlyOneTakesEachPeriod(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	const (
		periods  = 20
		replicas = 4
	)
	type period struct {
		id        int64
		expiresAt time.Time
	}
	ps := make([]period, periods)
	for i := range ps {
		ps[i].id, ps[i].expiresAt = expiredPeriod(t, db, 3_000_301+int64(i))
	}
	// The odd ones were claimed by a replica that died.
	dying, pool := replica(t, db)
	now := time.Now()
	for i := 1; i < periods; i += 2 {
		ok, err := dying.ClaimRevocation(t.Context(), ps[i].id, ps[i].expiresAt, now, now.Add(-claimTTL))
		require.NoError(t, err)
		require.True(t, ok)
	}
	die(t, db, pool, claimedBy(t, db, ps[1].id))

	stores := make([]*store.Store, replicas)
	for i := range stores {
		stores[i], _ = replica(t, db)
	}
	var (
		mu    sync.Mutex
		taken = map[int64]int{}
		start = make(chan struct{})
		wg    sync.WaitGroup
	)
	for _, s := range stores {
		wg.Go(func() {
			<-start
			for _, p := range ps {
				ok, err := s.ClaimRevocation(t.Context(), p.id, p.expiresAt, now.Add(time.Second), now.Add(time.Second-claimTTL))
				if err != nil {
					t.Errorf("claiming period %d: %v", p.id, err)
					return
				}
				if ok {
					mu.Lock()
					taken[p.id]++
					mu.Unlock()
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for i, p := range ps {
		require.Equal(t, 1, taken[p.id], "period %d (left by the dead replica: %v) taken %d times", p.id, i%2 == 1, taken[p.id])
	}
}
