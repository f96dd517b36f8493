package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// Provisioner is the part of a VPN panel (vpn.Provisioner) that activation
// and revocation use.
type Provisioner interface {
	// Create returns the period's access, making it if needed; the same
	// period gives the same access.
	Create(ctx context.Context, p vpn.Period) (vpn.Access, error)
	// Extend moves the access's expiry on the panel.
	Extend(ctx context.Context, accessID string, expiresAt time.Time) error
	// Revoke removes the access; a missing one is not an error.
	Revoke(ctx context.Context, accessID string) error
	// Name names the panel, as recorded in vpn_accesses.panel.
	Name() string
}

// PendingActivations returns up to limit active, unexpired periods whose
// access needs the panel: those with no access yet (or whose access was
// revoked while they were renewed, see ErrRenewed), and those whose panel
// expiry is behind the period's (paid for again: Activate extends them).
// Least recently changed first.
func (s *Shop) PendingActivations(ctx context.Context, limit int) ([]Subscription, error) {
	rows, err := s.pool.Query(ctx, subscriptionSelect+`
		WHERE s.status = 'active' AND s.expires_at > $1
		  AND (a.id IS NULL OR a.revoked_at IS NOT NULL OR a.expires_at < s.expires_at)
		ORDER BY s.updated_at, s.id LIMIT $2`, s.now(), limit)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions to activate: %w", err)
	}
	subs, err := collectSubscriptions(rows)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions to activate: %w", err)
	}
	return subs, nil
}

// Activate makes the panel match an active period and returns its access: it
// creates the access if the period has none (vpn.Provisioner.Create is
// idempotent per period, so concurrent or repeated calls make one key) and
// records it, or extends the access on the panel when the period was paid
// for beyond the panel's expiry. An activated, current period is returned
// as it is, without calling the panel.
//
// The panel is called with no connection held: Activate reads, calls, then
// records in one statement that re-checks the period. A panel error is
// returned wrapped and leaves the database unchanged; the caller retries
// later. A revoked or expired period is ErrNotActive.
func (s *Shop) Activate(ctx context.Context, subscriptionID int64, p Provisioner) (Access, error) {
	sub, err := subscriptionByID(ctx, s.pool, subscriptionID)
	if err != nil {
		return Access{}, fmt.Errorf("activating subscription %d: %w", subscriptionID, err)
	}
	if sub.Status != StatusActive || !s.now().Before(sub.ExpiresAt) {
		return Access{}, fmt.Errorf("activating subscription %d (%s until %s): %w",
			sub.ID, sub.Status, sub.ExpiresAt.Format(time.RFC3339), ErrNotActive)
	}
	a := sub.Access
	switch {
	case a == nil || a.RevokedAt != nil:
		err = s.create(ctx, sub, p)
	case a.ExpiresAt != nil && a.ExpiresAt.Before(sub.ExpiresAt):
		err = s.extend(ctx, sub, p)
	default:
		return *a, nil
	}
	if err != nil {
		return Access{}, fmt.Errorf("activating subscription %d on %s: %w", sub.ID, p.Name(), err)
	}
	sub, err = subscriptionByID(ctx, s.pool, subscriptionID)
	if err == nil && sub.Access == nil {
		err = errors.New("no access recorded") // cannot happen: recorded, or create failed
	}
	if err != nil {
		return Access{}, fmt.Errorf("reading the access of subscription %d: %w", subscriptionID, err)
	}
	return *sub.Access, nil
}

// recordAccessSQL records a created access, unless the period stopped being
// active meanwhile (then it returns no row). A live access recorded by a
// concurrent activation is kept (it is the same key: the panel names it by
// the period); one revoked while the period was renewed is replaced.
const recordAccessSQL = `
INSERT INTO vpn_accesses AS a (subscription_id, panel, external_id, access_url, expires_at, created_at)
SELECT s.id, $2, $3, $4, $5, $6 FROM subscriptions s WHERE s.id = $1 AND s.status = 'active'
ON CONFLICT (subscription_id) DO UPDATE
	SET panel = EXCLUDED.panel, external_id = EXCLUDED.external_id, access_url = EXCLUDED.access_url,
	    expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at, revoked_at = NULL
	WHERE a.revoked_at IS NOT NULL
RETURNING true`

// create makes the period's access on the panel and records it.
func (s *Shop) create(ctx context.Context, sub Subscription, p Provisioner) error {
	acc, err := p.Create(ctx, vpn.Period{SubscriptionID: sub.ID, UserID: sub.UserID, ExpiresAt: sub.ExpiresAt})
	if err != nil {
		return fmt.Errorf("creating the access: %w", err)
	}
	var expires *time.Time
	if !acc.ExpiresAt.IsZero() {
		expires = &acc.ExpiresAt
	}
	var recorded bool
	err = s.pool.QueryRow(ctx, recordAccessSQL, sub.ID, p.Name(), acc.ID, acc.URL, expires, s.now()).Scan(&recorded)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("recording access %s: %w", acc.ID, err)
	}
	// No row: recorded by a concurrent activation, or the period was revoked
	// after we read it. In the second case nobody will revoke the key just
	// made, so take it back.
	cur, err := subscriptionByID(ctx, s.pool, sub.ID)
	if err != nil {
		return fmt.Errorf("re-reading the subscription: %w", err)
	}
	if cur.Status == StatusActive {
		return nil
	}
	if err := p.Revoke(ctx, acc.ID); err != nil {
		return fmt.Errorf("revoking access %s made for a period revoked meanwhile: %w", acc.ID, err)
	}
	return ErrNotActive
}

// extend moves the access's expiry on the panel to the period's and records it.
func (s *Shop) extend(ctx context.Context, sub Subscription, p Provisioner) error {
	a := sub.Access
	if a.Panel != p.Name() {
		return fmt.Errorf("extending access %s: it is on panel %s", a.ExternalID, a.Panel)
	}
	if err := p.Extend(ctx, a.ExternalID, sub.ExpiresAt); err != nil {
		return fmt.Errorf("extending access %s to %s: %w", a.ExternalID, sub.ExpiresAt.Format(time.RFC3339), err)
	}
	// Only forward: a concurrent activation that extended further wins.
	_, err := s.pool.Exec(ctx, `
		UPDATE vpn_accesses SET expires_at = $3
		WHERE subscription_id = $1 AND external_id = $2 AND revoked_at IS NULL AND expires_at < $3`,
		sub.ID, a.ExternalID, sub.ExpiresAt)
	if err != nil {
		return fmt.Errorf("recording the new expiry of access %s: %w", a.ExternalID, err)
	}
	return nil
}

// raceWindow bounds how long after its revocation a period is checked for
// an access that an activation racing the revocation recorded: such a race
// shows within seconds. Older strays on the panel are the reconciliation
// pass's (it compares the panel with the database).
const raceWindow = 7 * 24 * time.Hour

// ExpiredUnrevoked returns up to limit periods whose access is due for
// revocation: active ones expired for longer than grace, and periods
// revoked within raceWindow whose access is still on the panel (recorded by
// an activation that raced the revocation). Earliest expiry first. Both
// branches read indexes only (BenchmarkSelectionQueries checks it over
// 100,000 periods).
func (s *Shop) ExpiredUnrevoked(ctx context.Context, grace time.Duration, limit int) ([]Subscription, error) {
	now := s.now()
	rows, err := s.pool.Query(ctx, subscriptionSelect+`
		WHERE s.id IN (
			(SELECT id FROM subscriptions WHERE status = 'active' AND expires_at <= $1
			 ORDER BY expires_at, id LIMIT $2)
			UNION ALL
			(SELECT y.id FROM subscriptions y
			 JOIN vpn_accesses x ON x.subscription_id = y.id AND x.revoked_at IS NULL
			 WHERE y.status = 'revoked' AND y.revoked_at > $3 LIMIT $2))
		ORDER BY s.expires_at, s.id LIMIT $2`, now.Add(-grace), limit, now.Add(-raceWindow))
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions to revoke: %w", err)
	}
	subs, err := collectSubscriptions(rows)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions to revoke: %w", err)
	}
	return subs, nil
}

// Revoke ends a period: it removes its access from the panel, then marks the
// access and the period revoked in one short transaction. It is idempotent.
// A panel error is returned wrapped and changes nothing: the period stays
// active and the caller retries later.
//
// The period is marked revoked only if its expiry is what Revoke read before
// calling the panel. If a payment extended it meanwhile, it stays active, its
// access is marked revoked (as it now is on the panel) so that activation
// makes a new one, and Revoke returns ErrRenewed.
func (s *Shop) Revoke(ctx context.Context, subscriptionID int64, p Provisioner) error {
	sub, err := subscriptionByID(ctx, s.pool, subscriptionID)
	if err != nil {
		return fmt.Errorf("revoking subscription %d: %w", subscriptionID, err)
	}
	a := sub.Access
	live := a != nil && a.RevokedAt == nil
	if live {
		if a.Panel != p.Name() {
			return fmt.Errorf("revoking subscription %d: its access %s is on panel %s, not %s",
				sub.ID, a.ExternalID, a.Panel, p.Name())
		}
		if err := p.Revoke(ctx, a.ExternalID); err != nil {
			return fmt.Errorf("revoking access %s of subscription %d on %s: %w", a.ExternalID, sub.ID, p.Name(), err)
		}
	}
	now := s.now()
	renewed := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if live {
			if _, err := tx.Exec(ctx, `UPDATE vpn_accesses SET revoked_at = $3
				WHERE subscription_id = $1 AND external_id = $2 AND revoked_at IS NULL`,
				sub.ID, a.ExternalID, now); err != nil {
				return fmt.Errorf("marking access %s revoked: %w", a.ExternalID, err)
			}
		}
		if sub.Status != StatusActive {
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE subscriptions SET status = 'revoked', revoked_at = $3, updated_at = $3
			WHERE id = $1 AND status = 'active' AND expires_at = $2`, sub.ID, sub.ExpiresAt, now)
		if err != nil {
			return fmt.Errorf("marking the subscription revoked: %w", err)
		}
		if tag.RowsAffected() == 0 {
			// Revoked by a concurrent call, or extended by a payment.
			var status string
			if err := tx.QueryRow(ctx, `SELECT status FROM subscriptions WHERE id = $1`, sub.ID).Scan(&status); err != nil {
				return fmt.Errorf("re-reading the subscription: %w", err)
			}
			renewed = status == StatusActive
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoking subscription %d: %w", subscriptionID, err)
	}
	if renewed {
		return fmt.Errorf("revoking subscription %d: %w", subscriptionID, ErrRenewed)
	}
	return nil
}
