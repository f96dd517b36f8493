package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vpnbot/vpnbot/pkg/notify"
)

// kindRevokeClaim is the notifications_sent kind of a revocation claim: the
// row's sent_at is when a replica took the period (whose expiry is the
// row's expires_at) to revoke it. It is kept after the revocation, so a
// replica that listed the period before it was revoked does not revoke it
// again; it can be taken over once it is older than the claim's lifetime,
// when its holder must have died or given up.
const kindRevokeClaim = "revoke_claim"

// Store runs the worker's statements on a pool.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// claimRevocationSQL takes a period for revocation unless another replica
// took it after $5 (the oldest claim still held). One statement, so two
// replicas racing for it cannot both get true.
const claimRevocationSQL = `
INSERT INTO notifications_sent AS n (subscription_id, kind, expires_at, sent_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (subscription_id, kind, expires_at) DO UPDATE SET sent_at = EXCLUDED.sent_at
	WHERE n.sent_at < $5
RETURNING true`

// ClaimRevocation takes the period of subscriptionID ending at expiresAt for
// revocation by this replica, now; a claim made before heldSince is taken
// over. False means another replica holds it.
func (s *Store) ClaimRevocation(ctx context.Context, subscriptionID int64, expiresAt, now, heldSince time.Time) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, claimRevocationSQL, subscriptionID, kindRevokeClaim, expiresAt, now, heldSince).Scan(&ok)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("claiming subscription %d for revocation: %w", subscriptionID, err)
	}
	return true, nil
}

// ReleaseRevocation gives up a claim whose revocation failed, so that the
// next iteration of any replica retries at once.
func (s *Store) ReleaseRevocation(ctx context.Context, subscriptionID int64, expiresAt time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM notifications_sent WHERE subscription_id = $1 AND kind = $2 AND expires_at = $3`,
		subscriptionID, kindRevokeClaim, expiresAt)
	if err != nil {
		return fmt.Errorf("releasing the revocation claim of subscription %d: %w", subscriptionID, err)
	}
	return nil
}

// Notice is a user to tell that their period ended and its key was revoked.
type Notice struct {
	SubscriptionID int64
	UserID         int64
	ChatID         int64
	Language       string
	ExpiresAt      time.Time
}

// claimNoticesSQL selects the periods revoked since $2 whose user has not
// been told, and claims them in the same statement: a replica gets back only
// the rows its INSERT made, so two replicas never both get one. Skipped, and
// so never claimed: users who blocked the bot or have no chat, and users who
// already have a new active period (they paid again; "your key no longer
// works" would be wrong about the key they hold).
const claimNoticesSQL = `
WITH due AS (
	SELECT s.id, s.user_id, u.chat_id, u.language, s.expires_at
	FROM subscriptions s
	JOIN users u ON u.id = s.user_id
	WHERE s.status = 'revoked' AND s.revoked_at > $2
	  AND u.chat_id IS NOT NULL AND u.blocked_at IS NULL
	  AND NOT EXISTS (SELECT 1 FROM subscriptions a WHERE a.user_id = s.user_id AND a.status = 'active')
	  AND NOT EXISTS (SELECT 1 FROM notifications_sent n
	                  WHERE n.subscription_id = s.id AND n.kind = $1 AND n.expires_at = s.expires_at)
	ORDER BY s.revoked_at, s.id
	LIMIT $4
), claimed AS (
	INSERT INTO notifications_sent (subscription_id, kind, expires_at, sent_at)
	SELECT id, $1, expires_at, $3 FROM due
	ON CONFLICT DO NOTHING
	RETURNING subscription_id
)
SELECT d.id, d.user_id, d.chat_id, d.language, d.expires_at
FROM due d JOIN claimed c ON c.subscription_id = d.id
ORDER BY d.id`

// ClaimNotices claims up to limit notices of periods revoked after since,
// recording them sent at now. The caller publishes each, or releases it.
func (s *Store) ClaimNotices(ctx context.Context, since, now time.Time, limit int) ([]Notice, error) {
	rows, err := s.pool.Query(ctx, claimNoticesSQL, notify.KindSubscriptionEnded, since, now, limit)
	if err != nil {
		return nil, fmt.Errorf("claiming expiry notices: %w", err)
	}
	notices, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notice, error) {
		var n Notice
		err := row.Scan(&n.SubscriptionID, &n.UserID, &n.ChatID, &n.Language, &n.ExpiresAt)
		n.ExpiresAt = n.ExpiresAt.UTC()
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("claiming expiry notices: %w", err)
	}
	return notices, nil
}

// ReleaseNotice drops the claim of a notice that could not be published, so
// that the next iteration tries again.
func (s *Store) ReleaseNotice(ctx context.Context, n Notice) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM notifications_sent WHERE subscription_id = $1 AND kind = $2 AND expires_at = $3`,
		n.SubscriptionID, notify.KindSubscriptionEnded, n.ExpiresAt)
	if err != nil {
		return fmt.Errorf("releasing the expiry notice of subscription %d: %w", n.SubscriptionID, err)
	}
	return nil
}

// Backed returns which of the panel's access ids (as vpn.Access.ID) a
// live access of an active period holds: the ones reconciliation must keep.
func (s *Store) Backed(ctx context.Context, panel string, ids []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.external_id FROM vpn_accesses a JOIN subscriptions s ON s.id = a.subscription_id
		WHERE a.panel = $1 AND a.external_id = ANY($2) AND a.revoked_at IS NULL AND s.status = 'active'`, panel, ids)
	if err != nil {
		return nil, fmt.Errorf("reading the accesses of active subscriptions: %w", err)
	}
	backed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the accesses of active subscriptions: %w", err)
	}
	out := make(map[string]bool, len(backed))
	for _, id := range backed {
		out[id] = true
	}
	return out, nil
}
