package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Stage is one reminder stage: a reminder is due once the expiry is Before
// away or closer, and it is recorded under Kind. A stage of Before 0 is the
// end itself: due once the period expired, for as long as ClaimDue's grace.
type Stage struct {
	Before time.Duration
	Kind   string
}

// Claim is one notifications_sent row this store inserted: the reminder of
// a stage of one expiry, now owned by the caller.
type Claim struct {
	SubscriptionID int64
	UserID         int64
	ChatID         int64
	Language       string
	ExpiresAt      time.Time
	Stage          Stage
	// Send is true for the most urgent due stage, the one to send; false
	// for a larger stage claimed with it so that it never fires late.
	Send bool
}

// Store is the reminders worker's SQL.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a store over pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// claimSQL selects the due reminders and claims them in one statement, so
// that of any number of concurrent claimants exactly one inserts each row
// (the others' ON CONFLICT waits for it and returns nothing).
//
// A period is due when it is an active paid one (trials are the
// trial-notifier's) of a user who has not blocked the bot, its expiry is
// inside the widest stage's window and not more than the grace ago
// ($1 - grace < expires_at <= $1 + widest), and the most urgent stage whose
// window holds the expiry (its target; the stage of length 0 once it has
// passed) is not claimed yet for that expiry, or its claim was abandoned. The target and
// every larger stage are claimed; only the target is sent, so only its row
// is left pending (pending_pid, this session) until MarkPublished. Rows are
// inserted in one global order (subscription, stage), so concurrent
// claimants lock them in the same order and cannot deadlock.
//
// A claim is abandoned when it is still pending and either its session is
// gone (the process that made it died before publishing) or it was made
// before $6 (its holder is stuck, or the session id was reused). Taking it
// over is a conflicting insert that updates the row only if it is still
// abandoned once its lock is had, so two replicas cannot both take it.
//
// $1 now, $2 the stages' lengths in seconds, $3 their kinds, $4 the widest
// stage in seconds, $5 the most periods to claim, $6 the oldest claim still
// held, $7 the grace in seconds.
const claimSQL = `
WITH stages AS (
    SELECT secs, kind FROM unnest($2::bigint[], $3::text[]) AS st(secs, kind)
),
due AS (
    SELECT s.id, s.user_id, s.expires_at, u.chat_id, u.language, target.secs AS target
    FROM subscriptions s
    JOIN users u ON u.id = s.user_id
    CROSS JOIN LATERAL (
        SELECT st.secs, st.kind FROM stages st
        WHERE s.expires_at <= $1::timestamptz + make_interval(secs => st.secs)
        ORDER BY st.secs
        LIMIT 1
    ) target
    WHERE s.status = 'active' AND s.kind = 'paid'
      AND s.expires_at > $1::timestamptz - make_interval(secs => $7::bigint)
      AND s.expires_at <= $1::timestamptz + make_interval(secs => $4::bigint)
      AND u.blocked_at IS NULL AND u.banned_at IS NULL AND u.chat_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM notifications_sent n
                      WHERE n.subscription_id = s.id AND n.kind = target.kind AND n.expires_at = s.expires_at
                        AND (n.pending_pid IS NULL
                             OR (n.sent_at >= $6 AND n.pending_pid = ANY(ARRAY(SELECT pid FROM pg_stat_activity)))))
    ORDER BY s.expires_at, s.id
    LIMIT $5
),
claimed AS (
    INSERT INTO notifications_sent AS n (subscription_id, kind, expires_at, sent_at, pending_pid)
    SELECT d.id, st.kind, d.expires_at, $1, CASE WHEN st.secs = d.target THEN pg_backend_pid() END
    FROM due d
    JOIN stages st ON st.secs >= d.target
    ORDER BY d.id, st.secs
    ON CONFLICT (subscription_id, kind, expires_at) DO UPDATE
        SET sent_at = EXCLUDED.sent_at, pending_pid = EXCLUDED.pending_pid
        WHERE n.pending_pid IS NOT NULL
          AND (n.sent_at < $6 OR n.pending_pid <> ALL(ARRAY(SELECT pid FROM pg_stat_activity)))
    RETURNING subscription_id, kind
)
SELECT d.id, d.user_id, d.chat_id, d.language, d.expires_at, st.secs, st.kind, st.secs = d.target
FROM claimed c
JOIN due d ON d.id = c.subscription_id
JOIN stages st ON st.kind = c.kind
ORDER BY d.expires_at, d.id, st.secs`

// ClaimDue claims the reminders due at now for up to limit periods, and
// returns the rows it inserted or took over, in expiry order. A row another
// claimant holds is not returned: it is that claimant's to send. A pending
// claim made before heldSince, or by a session that has ended, is taken
// over. A period that expired is due its stage of length 0, if stages has
// one, until grace after its expiry; with no such stage, grace must be 0.
func (s *Store) ClaimDue(ctx context.Context, now, heldSince time.Time, stages []Stage, grace time.Duration, limit int) ([]Claim, error) {
	if len(stages) == 0 {
		return nil, nil
	}
	secs := make([]int64, len(stages))
	kinds := make([]string, len(stages))
	var widest int64
	for i, st := range stages {
		secs[i] = int64(st.Before / time.Second)
		kinds[i] = st.Kind
		widest = max(widest, secs[i])
	}
	rows, err := s.pool.Query(ctx, claimSQL, now, secs, kinds, widest, limit, heldSince, int64(grace/time.Second))
	if err != nil {
		return nil, fmt.Errorf("claiming due reminders: %w", err)
	}
	claims, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Claim, error) {
		var c Claim
		var sec int64
		err := row.Scan(&c.SubscriptionID, &c.UserID, &c.ChatID, &c.Language, &c.ExpiresAt, &sec, &c.Stage.Kind, &c.Send)
		c.Stage.Before = time.Duration(sec) * time.Second
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claiming due reminders: %w", err)
	}
	return claims, nil
}

// markPublishedSQL clears the pending claims of the rows ($1, $2, $3) and
// stamps them sent at $4. It locks them in the order claims take rows
// (subscription first), before updating them: locked in any other order, a
// claim of another replica taking some of them over (or locking them to see
// they are not abandoned) and this update could each wait for the other.
const markPublishedSQL = `
WITH mine AS (
	SELECT n.subscription_id, n.kind, n.expires_at
	FROM notifications_sent n
	JOIN unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS p(subscription_id, kind, expires_at)
	  ON n.subscription_id = p.subscription_id AND n.kind = p.kind AND n.expires_at = p.expires_at
	WHERE n.pending_pid IS NOT NULL
	ORDER BY n.subscription_id, n.kind
	FOR UPDATE OF n
)
UPDATE notifications_sent n SET pending_pid = NULL, sent_at = $4
FROM mine
WHERE n.subscription_id = mine.subscription_id AND n.kind = mine.kind AND n.expires_at = mine.expires_at`

// MarkPublished records that the reminders of claims were handed to the
// sender at now: their rows are no longer pending, and no claim takes them
// over.
func (s *Store) MarkPublished(ctx context.Context, claims []Claim, now time.Time) error {
	if len(claims) == 0 {
		return nil
	}
	ids := make([]int64, len(claims))
	kinds := make([]string, len(claims))
	expiries := make([]time.Time, len(claims))
	for i, c := range claims {
		ids[i], kinds[i], expiries[i] = c.SubscriptionID, c.Stage.Kind, c.ExpiresAt
	}
	_, err := s.pool.Exec(ctx, markPublishedSQL, ids, kinds, expiries, now)
	if err != nil {
		return fmt.Errorf("recording %d reminders as published: %w", len(claims), err)
	}
	return nil
}

// Release deletes the claim of c's stage, so that a later iteration (of any
// replica) claims and sends it again: for a reminder that could not be
// handed to the sender.
func (s *Store) Release(ctx context.Context, c Claim) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM notifications_sent WHERE subscription_id = $1 AND kind = $2 AND expires_at = $3`,
		c.SubscriptionID, c.Stage.Kind, c.ExpiresAt)
	if err != nil {
		return fmt.Errorf("releasing the %s reminder of subscription %d: %w", c.Stage.Kind, c.SubscriptionID, err)
	}
	return nil
}
