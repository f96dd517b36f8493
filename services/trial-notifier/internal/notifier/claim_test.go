package notifier_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/trial-notifier/internal/notifier"
	"github.com/vpnbot/vpnbot/services/trial-notifier/internal/store"
)

// claimWithoutPublishing claims every kind of notice due at the clock's time
// as a replica does, on a database session of its own, and publishes
// nothing: a replica stopped between the two. Closing the returned pool is
// that replica dying. It returns how many notices it claimed.
func (e *env) claimWithoutPublishing(t *testing.T) (*pgxpool.Pool, int) {
	t.Helper()
	pool := e.db.Session(t)
	s := store.New(pool, notifier.DefaultClaimTTL)
	now := e.clock.Now()
	claimed := 0
	for _, ending := range []store.Ending{
		{Kind: notify.TrialEndsSoonKind(notifier.DefaultLeads.Last), Lead: notifier.DefaultLeads.Last},
		{Kind: notify.TrialEndsSoonKind(notifier.DefaultLeads.First), Lead: notifier.DefaultLeads.First, Until: notifier.DefaultLeads.Last},
	} {
		notices, err := s.ClaimEnding(t.Context(), ending, now, 10)
		require.NoError(t, err)
		claimed += len(notices)
	}
	notices, err := s.ClaimEnding(t.Context(), store.Ending{Kind: notify.KindTrialEnded, Until: -notifier.DefaultGrace}, now, 10)
	require.NoError(t, err)
	claimed += len(notices)
	notices, err = s.ClaimNeverStarted(t.Context(), notify.KindNeverStarted, now, notifier.NeverStartedAfter, notifier.DefaultMaxAge, 10)
	require.NoError(t, err)
	return pool, claimed + len(notices)
}

// pending counts the claims not yet published.
func (e *env) pending(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.Pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM notifications_sent WHERE pending_pid IS NOT NULL) +
		(SELECT count(*) FROM user_notices WHERE pending_pid IS NOT NULL)`).Scan(&n))
	return n
}

// oneOfEachNotice makes a trial that ended, a user who never took the trial,
// and a trial that ends within the day, and returns the ended trial and the
// dedup ids of the three notices, due at the clock's time when it returns.
func (e *env) oneOfEachNotice(t *testing.T) (ended shop.Subscription, ids []string) {
	t.Helper()
	endedSub := e.trial(t, "en")
	idle := e.user(t, "en")
	// A trial of 30 hours, taken 7 hours before endedSub runs out: 23 hours
	// left when it has.
	e.clock.Advance(trialLength - 7*time.Hour + time.Minute)
	endingSub := e.trialOf(t, "en", 30*time.Hour)
	e.clock.Advance(7 * time.Hour)
	return endedSub, []string{
		periodDedupID("trial_24h", endingSub.ID, endingSub.ExpiresAt),
		periodDedupID("trial_ended", endedSub.ID, endedSub.ExpiresAt),
		"never_started:" + strconv.FormatInt(idle, 10),
	}
}

func TestNoticesWhoseReplicaDiedBeforePublishingAreSentByTheNextIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{})
	ended, want := e.oneOfEachNotice(t)

	dying, claimed := e.claimWithoutPublishing(t)
	require.Equal(t, 3, claimed)
	require.Equal(t, 3, e.pending(t))
	require.Empty(t, iterate(t, in), "the claims of a live replica are its own")

	dying.Close()
	// The server ends the session of a closed connection shortly after.
	got := map[string]int{}
	require.Eventually(t, func() bool {
		for kind, n := range iterate(t, in) {
			got[kind] += n
		}
		return len(got) == 3
	}, waitFor, poll, "sent of the dead replica's notices: %v", got)
	require.Equal(t, map[string]int{"trial_24h": 1, "trial_ended": 1, "never_started": 1}, got)
	require.ElementsMatch(t, want, dedupIDs(e.messages(t)))
	require.Zero(t, e.pending(t))
	require.Equal(t, []string{notify.KindTrialEnded}, e.claimedKinds(t, ended.ID, ended.ExpiresAt),
		"expiry-cleanup's notice of the revocation stays its own to send")

	e.clock.Advance(time.Hour)
	require.Empty(t, iterate(t, in), "each sent once")
	require.Len(t, e.messages(t), 3)
}

func TestNoticesClaimedButNeverPublishedAreTakenOverAfterTheClaimTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.instance(t, notifier.Config{})
	_, want := e.oneOfEachNotice(t)
	// A replica that lives on but hangs before publishing.
	_, claimed := e.claimWithoutPublishing(t)
	require.Equal(t, 3, claimed)

	e.clock.Advance(notifier.DefaultClaimTTL - time.Second)
	require.Empty(t, iterate(t, in), "claims within their TTL are not taken over")
	e.clock.Advance(2 * time.Second)
	require.Equal(t, map[string]int{"trial_24h": 1, "trial_ended": 1, "never_started": 1}, iterate(t, in))
	require.Empty(t, iterate(t, in))
	require.ElementsMatch(t, want, dedupIDs(e.messages(t)))
	require.Zero(t, e.pending(t))
}
