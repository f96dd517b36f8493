package cleanup_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/clocktest"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker/workertest"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/cleanup"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/store"
)

// revokedUntold makes n periods whose keys in is revoked, with their
// notices left due: the OUTBOX was away when they were revoked.
func (e *env) revokedUntold(t *testing.T, in *instance, n int) {
	t.Helper()
	for range n {
		e.expire(t, e.activeKey(t, "en").ID, 2*time.Hour)
	}
	require.NoError(t, e.js.DeleteStream(t.Context(), outbox.Stream))
	res, err := iterate(t, in)
	require.Error(t, err)
	require.Equal(t, n, res[cleanup.ItemRevoked])
	require.NoError(t, bus.DeclareStreams(t.Context(), e.js, outbox.StreamConfig()))
}

// claimWithoutPublishing claims the notices due at now as a replica does, on
// a database session of its own, and publishes nothing: a replica stopped
// between the two. Closing the returned pool is that replica dying.
func (e *env) claimWithoutPublishing(t *testing.T, now time.Time) (*pgxpool.Pool, []store.Notice) {
	t.Helper()
	pool := e.db.Session(t)
	notices, err := store.New(pool).ClaimNotices(t.Context(), now.Add(-cleanup.DefaultNoticeWindow), now,
		now.Add(-cleanup.DefaultClaimTTL), 10)
	require.NoError(t, err)
	return pool, notices
}

// pendingNotices counts the expiry notices claimed and not yet published.
func (e *env) pendingNotices(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.Pool.QueryRow(t.Context(),
		`SELECT count(*) FROM notifications_sent WHERE kind = 'expired' AND pending_pid IS NOT NULL`).Scan(&n))
	return n
}

func TestNoticesWhoseReplicaDiedBeforePublishingAreSentByTheNextIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "outline")
	in := e.instance(t, cleanup.Config{})
	const periods = 3
	e.revokedUntold(t, in, periods)
	dying, notices := e.claimWithoutPublishing(t, time.Now())
	require.Len(t, notices, periods)
	require.Equal(t, periods, e.pendingNotices(t))

	require.Zero(t, iterateOK(t, in)[cleanup.ItemNotified], "the claims of a live replica are its own")
	dying.Close()
	// The server ends the session of a closed connection shortly after.
	notified := 0
	require.Eventually(t, func() bool {
		notified += iterateOK(t, in)[cleanup.ItemNotified]
		return notified > 0
	}, waitFor, poll, "the dead replica's notices were never sent")
	require.Equal(t, periods, notified)
	require.Len(t, e.messages(t), periods)
	require.Zero(t, e.pendingNotices(t))
	require.Zero(t, iterateOK(t, in)[cleanup.ItemNotified], "each sent once")
}

func TestNoticesClaimedButNeverPublishedAreTakenOverAfterTheClaimTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "outline")
	clk := clocktest.New(time.Now())
	in := e.instance(t, cleanup.Config{NowFunc: clk.Now})
	const periods = 2
	e.revokedUntold(t, in, periods)
	// A replica that lives on but hangs before publishing.
	_, notices := e.claimWithoutPublishing(t, clk.Now())
	require.Len(t, notices, periods)

	clk.Advance(cleanup.DefaultClaimTTL - time.Second)
	require.Zero(t, iterateOK(t, in)[cleanup.ItemNotified], "claims within their TTL are not taken over")
	clk.Advance(2 * time.Second)
	require.Equal(t, periods, iterateOK(t, in)[cleanup.ItemNotified])
	require.Zero(t, iterateOK(t, in)[cleanup.ItemNotified])
	require.Len(t, e.messages(t), periods)
	require.Zero(t, e.pendingNotices(t))
}

// TestTwoWorkersAtOnceTellEachRevocationOnceInItsUsersWords revokes trials
// and paid periods of English and Russian users with two replicas iterating
// side by side: each user is told once that the key no longer works, in
// their language, naming what ended. The trial-notifier's "trial ended",
// sent at the expiry, does not stand in for it.
func TestTwoWorkersAtOnceTellEachRevocationOnceInItsUsersWords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "outline")
	want := map[int64]string{}
	for _, lang := range []string{"en", "ru"} {
		for range 3 {
			trial := e.activeKey(t, lang)
			e.expire(t, trial.ID, 2*time.Hour)
			want[trial.UserID] = map[string]string{
				"en": "Your VPN key no longer works: your free trial ended on",
				"ru": "Ваш ключ VPN больше не работает: пробный период закончился",
			}[lang]
			// Told at its expiry that the trial ended, as the trial-notifier does.
			_, err := e.db.Pool.Exec(t.Context(), `INSERT INTO notifications_sent (subscription_id, kind, expires_at)
				SELECT id, $2, expires_at FROM subscriptions WHERE id = $1`, trial.ID, notify.KindTrialEnded)
			require.NoError(t, err)

			paid := e.activeKey(t, lang)
			e.pay(t, paid.UserID)
			require.Equal(t, shop.KindPaid, e.expire(t, paid.ID, 2*time.Hour).Kind)
			want[paid.UserID] = map[string]string{
				"en": "Your VPN key no longer works: your subscription ended on",
				"ru": "Ваш ключ VPN больше не работает: подписка закончилась",
			}[lang]
		}
	}
	a := e.instance(t, cleanup.Config{Concurrency: 1})
	b := e.instance(t, cleanup.Config{Concurrency: 1})
	workertest.AtOnce(t, func() { iterateOK(t, a) }, func() { iterateOK(t, b) })

	msgs := e.messages(t)
	require.Len(t, msgs, len(want), "one notice per period")
	for _, m := range msgs {
		require.Contains(t, m.GetText(), want[m.GetChatId()], "user %d", m.GetChatId())
		delete(want, m.GetChatId())
	}
	require.Empty(t, want, "users never told")
	sent := len(a.logs.Events(t, cleanup.EventNoticeSent)) + len(b.logs.Events(t, cleanup.EventNoticeSent))
	require.Equal(t, len(msgs), sent, "each notice handed to the sender by one worker only")
	require.Zero(t, e.pendingNotices(t))
	require.Zero(t, iterateOK(t, b)[cleanup.ItemNotified], "nothing is told twice")
}

// TestARevocationNoticeRepublishedAfterItsReplicaDiedIsOneMessage: a
// replica claims the notice, publishes it and dies before recording it
// published. The next iteration takes the claim over and publishes it
// again under the same dedup id, which the OUTBOX drops.
func TestARevocationNoticeRepublishedAfterItsReplicaDiedIsOneMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "outline")
	in := e.instance(t, cleanup.Config{})
	e.revokedUntold(t, in, 1)
	dying, notices := e.claimWithoutPublishing(t, time.Now())
	require.Len(t, notices, 1)
	n := notices[0]
	require.True(t, n.Trial)
	duplicate, err := outbox.Publish(t.Context(), e.js, notify.KeyRevoked(n.Language, n.ChatID, n.SubscriptionID, n.Trial, n.ExpiresAt))
	require.NoError(t, err)
	require.False(t, duplicate)
	dying.Close()

	notified := 0
	require.Eventually(t, func() bool {
		notified += iterateOK(t, in)[cleanup.ItemNotified]
		return notified > 0
	}, waitFor, poll, "the dead replica's claim was never taken over")
	require.Equal(t, 1, notified, "published again")
	msgs := e.messages(t)
	require.Len(t, msgs, 1, "the OUTBOX kept one")
	require.Contains(t, msgs[0].GetText(), "Your VPN key no longer works: your free trial ended on")
	require.Zero(t, e.pendingNotices(t))
	require.Zero(t, iterateOK(t, in)[cleanup.ItemNotified])
}
