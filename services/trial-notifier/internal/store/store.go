package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Notice is a claimed notice and where it goes.
type Notice struct {
	// Kind is what it was claimed as (a notify.Kind… constant).
	Kind string
	// SubscriptionID and ExpiresAt name the trial period of a period notice;
	// both are zero in a user notice.
	SubscriptionID int64
	ExpiresAt      time.Time
	UserID         int64
	ChatID         int64
	// Language is users.language.
	Language string
}

// Ending selects the running trials a notice of Kind is due for: those
// expiring within Lead from now but not within Until (the window of the
// next, more urgent notice, which goes out instead when this one was
// missed). A trial no longer than Lead gets no such notice: it would arrive
// with the key, saying nothing new.
//
// An "ends soon" notice has a positive Lead. The "ended" notice has none,
// and Until is minus the grace: it is due from the expiry until the key
// stops working, while the period is still active. A notice missed for that
// long (the worker was down) is not sent: expiry-cleanup's "your key no
// longer works" tells the end then.
type Ending struct {
	Kind  string
	Lead  time.Duration
	Until time.Duration
}

// Store runs the trial-notifier's statements on a pool.
type Store struct {
	pool     *pgxpool.Pool
	claimTTL time.Duration
}

// New returns a Store over pool. A claimed notice not yet published is
// taken over by the next claim once its claimant's session has ended, or
// once it is older than claimTTL.
func New(pool *pgxpool.Pool, claimTTL time.Duration) *Store {
	return &Store{pool: pool, claimTTL: claimTTL}
}

// claimEndingSQL claims up to $6 notices of kind $1 for running trials of
// users who can be messaged, expiring in ($2, $3] and longer than $4,
// soonest expiry first, pending since $5; a claim made before $7 is no
// longer held.
const claimEndingSQL = `
WITH due AS (
	SELECT s.id, s.expires_at
	FROM subscriptions s
	JOIN users u ON u.id = s.user_id
	WHERE s.kind = 'trial' AND s.status = 'active'
	  AND s.expires_at > $2 AND s.expires_at <= $3
	  AND s.starts_at < s.expires_at - $4::interval
	  AND u.blocked_at IS NULL AND u.banned_at IS NULL AND u.chat_id IS NOT NULL
	  AND NOT EXISTS (SELECT 1 FROM notifications_sent n
	                  WHERE n.subscription_id = s.id AND n.kind = $1 AND n.expires_at = s.expires_at
	                    AND (n.pending_pid IS NULL
	                         OR (n.sent_at >= $7 AND n.pending_pid = ANY(ARRAY(SELECT pid FROM pg_stat_activity)))))
	ORDER BY s.expires_at, s.id
	LIMIT $6
), claimed AS (
	INSERT INTO notifications_sent AS n (subscription_id, kind, expires_at, sent_at, pending_pid)
	SELECT id, $1, expires_at, $5, pg_backend_pid() FROM due
	ON CONFLICT (subscription_id, kind, expires_at) DO UPDATE
		SET sent_at = EXCLUDED.sent_at, pending_pid = EXCLUDED.pending_pid
		WHERE n.pending_pid IS NOT NULL
		  AND (n.sent_at < $7 OR n.pending_pid <> ALL(ARRAY(SELECT pid FROM pg_stat_activity)))
	RETURNING subscription_id, expires_at
)
SELECT c.subscription_id, c.expires_at, u.id, u.chat_id, u.language
FROM claimed c
JOIN subscriptions s ON s.id = c.subscription_id
JOIN users u ON u.id = s.user_id`

// ClaimEnding claims up to limit notices of e that are due at now.
func (s *Store) ClaimEnding(ctx context.Context, e Ending, now time.Time, limit int) ([]Notice, error) {
	rows, err := s.pool.Query(ctx, claimEndingSQL, e.Kind, now.Add(e.Until), now.Add(e.Lead), e.Lead, now, limit,
		now.Add(-s.claimTTL))
	if err != nil {
		return nil, fmt.Errorf("claiming %s notices: %w", e.Kind, err)
	}
	return collectPeriodNotices(rows, e.Kind)
}

func collectPeriodNotices(rows pgx.Rows, kind string) ([]Notice, error) {
	notices, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notice, error) {
		n := Notice{Kind: kind}
		err := row.Scan(&n.SubscriptionID, &n.ExpiresAt, &n.UserID, &n.ChatID, &n.Language)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("claiming %s notices: %w", kind, err)
	}
	return notices, nil
}

// claimNeverStartedSQL claims up to $5 notices of kind $1 for users who can
// be messaged, registered in ($3, $2], who never took the trial nor had any
// subscription, earliest registration first, pending since $4; a claim made
// before $6 is no longer held.
//
// What rules a user out (the notice already claimed, the trial taken, a
// subscription had) is looked up per user, through user_notices_pkey,
// trials_pkey and subscriptions_user_id, in a LATERAL whose LIMIT keeps
// them lookups: as NOT EXISTS, the planner would rather hash those whole
// tables, which grow with the business, than look up the week's
// registrations.
const claimNeverStartedSQL = `
WITH due AS (
	SELECT u.id
	FROM users u
	LEFT JOIN LATERAL (
		SELECT 1 AS found FROM user_notices n
		WHERE n.user_id = u.id AND n.kind = $1
		  AND (n.pending_pid IS NULL
		       OR (n.sent_at >= $6 AND n.pending_pid = ANY(ARRAY(SELECT pid FROM pg_stat_activity))))
		UNION ALL
		SELECT 1 FROM trials t WHERE t.user_id = u.id
		UNION ALL
		SELECT 1 FROM subscriptions s WHERE s.user_id = u.id
		LIMIT 1
	) ruled_out ON true
	WHERE u.created_at <= $2 AND u.created_at > $3
	  AND u.blocked_at IS NULL AND u.banned_at IS NULL AND u.chat_id IS NOT NULL
	  AND ruled_out.found IS NULL
	ORDER BY u.created_at, u.id
	LIMIT $5
), claimed AS (
	INSERT INTO user_notices AS n (user_id, kind, sent_at, pending_pid)
	SELECT id, $1, $4, pg_backend_pid() FROM due
	ON CONFLICT (user_id, kind) DO UPDATE
		SET sent_at = EXCLUDED.sent_at, pending_pid = EXCLUDED.pending_pid
		WHERE n.pending_pid IS NOT NULL
		  AND (n.sent_at < $6 OR n.pending_pid <> ALL(ARRAY(SELECT pid FROM pg_stat_activity)))
	RETURNING user_id
)
SELECT u.id, u.chat_id, u.language
FROM claimed c
JOIN users u ON u.id = c.user_id`

// ClaimNeverStarted claims up to limit notices of kind for users who
// registered at least idle before now (and at most idle + maxAge before:
// older ones are no longer worth a message) and never took the trial or
// bought anything.
func (s *Store) ClaimNeverStarted(ctx context.Context, kind string, now time.Time, idle, maxAge time.Duration, limit int) ([]Notice, error) {
	registeredBy := now.Add(-idle)
	rows, err := s.pool.Query(ctx, claimNeverStartedSQL, kind, registeredBy, registeredBy.Add(-maxAge), now, limit,
		now.Add(-s.claimTTL))
	if err != nil {
		return nil, fmt.Errorf("claiming %s notices: %w", kind, err)
	}
	notices, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notice, error) {
		n := Notice{Kind: kind}
		err := row.Scan(&n.UserID, &n.ChatID, &n.Language)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("claiming %s notices: %w", kind, err)
	}
	return notices, nil
}

// MarkPublished records that notices were handed to the sender at now: their
// claims are no longer pending, and no claim takes them over.
func (s *Store) MarkPublished(ctx context.Context, notices []Notice, now time.Time) error {
	var (
		periods, users []int64
		periodKinds    []string
		expiries       []time.Time
		userKinds      []string
	)
	for _, n := range notices {
		if n.SubscriptionID == 0 {
			users, userKinds = append(users, n.UserID), append(userKinds, n.Kind)
			continue
		}
		periods, periodKinds, expiries = append(periods, n.SubscriptionID), append(periodKinds, n.Kind), append(expiries, n.ExpiresAt)
	}
	batch := &pgx.Batch{}
	if len(periods) > 0 {
		batch.Queue(`
			UPDATE notifications_sent n SET pending_pid = NULL, sent_at = $4
			FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS p(subscription_id, kind, expires_at)
			WHERE n.subscription_id = p.subscription_id AND n.kind = p.kind AND n.expires_at = p.expires_at
			  AND n.pending_pid IS NOT NULL`, periods, periodKinds, expiries, now)
	}
	if len(users) > 0 {
		batch.Queue(`
			UPDATE user_notices n SET pending_pid = NULL, sent_at = $3
			FROM unnest($1::bigint[], $2::text[]) AS p(user_id, kind)
			WHERE n.user_id = p.user_id AND n.kind = p.kind AND n.pending_pid IS NOT NULL`, users, userKinds, now)
	}
	if batch.Len() == 0 {
		return nil
	}
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("recording %d notices as published: %w", len(notices), err)
	}
	return nil
}

// Release drops the claims of notices that were not published, so that a
// later iteration claims and sends them.
func (s *Store) Release(ctx context.Context, notices []Notice) error {
	batch := &pgx.Batch{}
	for _, n := range notices {
		if n.SubscriptionID == 0 {
			batch.Queue(`DELETE FROM user_notices WHERE user_id = $1 AND kind = $2`, n.UserID, n.Kind)
			continue
		}
		batch.Queue(`DELETE FROM notifications_sent WHERE subscription_id = $1 AND kind = $2 AND expires_at = $3`,
			n.SubscriptionID, n.Kind, n.ExpiresAt)
	}
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("releasing %d claimed notices: %w", len(notices), err)
	}
	return nil
}
