package reminders_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/services/reminders/internal/reminders"
	"github.com/vpnbot/vpnbot/services/reminders/internal/store"
)

// claimWithoutPublishing claims the reminders due at the clock's time as a
// replica does, on a database session of its own, and publishes nothing: a
// replica stopped between the two. Closing the returned pool is that
// replica dying.
func (e *env) claimWithoutPublishing(t *testing.T) (*pgxpool.Pool, []store.Claim) {
	t.Helper()
	pool := e.db.Session(t)
	stages := []store.Stage{{Kind: notify.KindPaidEnded}, {Before: time.Hour, Kind: "reminder_1h"},
		{Before: 24 * time.Hour, Kind: "reminder_24h"}, {Before: 72 * time.Hour, Kind: "reminder_72h"}}
	now := e.clock.Now()
	claims, err := store.New(pool).ClaimDue(t.Context(), now, now.Add(-reminders.DefaultClaimTTL), stages, reminders.DefaultGrace, 10)
	require.NoError(t, err)
	return pool, claims
}

// pending counts the claims not yet published.
func (e *env) pending(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.Pool.QueryRow(t.Context(),
		`SELECT count(*) FROM notifications_sent WHERE pending_pid IS NOT NULL`).Scan(&n))
	return n
}

func TestAReminderWhoseReplicaDiedBeforePublishingIsSentByTheNextIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.paid(t, "en")
	e.clock.Set(sub.ExpiresAt.Add(-23 * time.Hour))
	dying, claims := e.claimWithoutPublishing(t)
	require.Len(t, claims, 2, "the 24 h reminder, and the 72 h stage passed over")
	require.Equal(t, 1, e.pending(t), "only the reminder to send waits to be published")

	require.Zero(t, iterate(t, in)["sent"], "the claim of a live replica is its own")
	dying.Close()
	// The server ends the session of a closed connection shortly after.
	require.Eventually(t, func() bool { return iterate(t, in)["sent"] == 1 }, waitFor, poll,
		"the dead replica's reminder was never sent")

	require.Equal(t, []string{dedupID("reminder_24h", sub)}, dedupIDs(e.messages(t)))
	require.Zero(t, e.pending(t))
	e.clock.Set(sub.ExpiresAt.Add(-22 * time.Hour))
	require.Zero(t, iterate(t, in)["sent"], "sent once")
	require.Len(t, e.messages(t), 1)
}

func TestAReminderClaimedButNeverPublishedIsTakenOverAfterTheClaimTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, reminders.Config{})
	sub := e.paid(t, "en")
	claimedAt := sub.ExpiresAt.Add(-23 * time.Hour)
	e.clock.Set(claimedAt)
	// A replica that lives on but hangs before publishing.
	_, claims := e.claimWithoutPublishing(t)
	require.Len(t, claims, 2)

	e.clock.Set(claimedAt.Add(reminders.DefaultClaimTTL - time.Second))
	require.Zero(t, iterate(t, in)["sent"], "a claim within its TTL is not taken over")
	e.clock.Set(claimedAt.Add(reminders.DefaultClaimTTL + time.Second))
	res := iterate(t, in)
	require.Equal(t, 1, res["sent"])
	require.Zero(t, res["skipped"], "the 72 h stage was settled by the first claim")
	require.Zero(t, iterate(t, in)["sent"])
	require.Equal(t, []string{dedupID("reminder_24h", sub)}, dedupIDs(e.messages(t)))
	require.Zero(t, e.pending(t))
}
