package shop

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// ErrBanned: the user is banned, so their account gets no access: it is
// not enabled, extended or given a new link until they are unbanned.
var ErrBanned = errors.New("user is banned")

// A ban (users.banned_at) leaves the user's periods as they are and takes
// their access away: Suspend disables the account on the panel and marks
// the live accesses revoked, as a revocation does, so the key server
// answers 404 and the reconciliation has nothing to enable. Activation
// passes banned users over (PendingActivations, PendingRotations, and
// record re-checks under the user's row), so nothing enables the account
// again while the ban holds. An unban clears banned_at: the active period
// then has a revoked access, which PendingActivations lists, and its
// activation enables the account until the period's end and clears
// suspended_at. A period that ended meanwhile is revoked as any other.
//
// Ban and activation meet on the user's row: Ban updates it, record reads
// it FOR SHARE in the transaction that would make an access live. Either
// the ban commits first and record enables nothing (it disables what it
// just enabled), or the access is recorded first and PendingSuspensions
// lists the user.

// suspensionsSQL lists banned users whose access is live (recorded, or by
// an activation that raced the ban) or whose made account is not marked
// suspended yet.
const suspensionsSQL = `
SELECT u.id FROM users u
JOIN vpn_accounts c ON c.user_id = u.id AND c.external_id <> ''
WHERE u.banned_at IS NOT NULL
  AND (c.suspended_at IS NULL OR EXISTS (
	SELECT 1 FROM subscriptions s JOIN vpn_accesses a ON a.subscription_id = s.id
	WHERE s.user_id = u.id AND s.status = 'active' AND a.revoked_at IS NULL))
ORDER BY u.banned_at, u.id LIMIT $1`

// PendingSuspensions returns up to limit banned users whose account is
// still to be disabled, longest banned first.
func (s *Shop) PendingSuspensions(ctx context.Context, limit int) ([]int64, error) {
	rows, err := s.pool.Query(ctx, suspensionsSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("listing banned users to suspend: %w", err)
	}
	users, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("listing banned users to suspend: %w", err)
	}
	return users, nil
}

// Suspend disables a banned user's account on its panel and records it:
// the live accesses of the user's active periods are marked revoked, and
// the account suspended while the ban still holds. An account the panel no
// longer has is off already. If the user was unbanned meanwhile, the
// accesses are still marked revoked, as the account now is on the panel,
// so activation enables it again. A panel error changes nothing; the
// caller retries.
func (s *Shop) Suspend(ctx context.Context, userID int64, f *vpn.Fleet) error {
	acc, err := s.UserAccount(ctx, userID)
	if err != nil || acc == nil || !acc.made() {
		return err
	}
	m, ok := f.Member(acc.Panel)
	if !ok {
		return fmt.Errorf("suspending user %d: their account is on panel %s, which is not configured", userID, acc.Panel)
	}
	_, err = m.SetAccount(ctx, acc.Ref(), vpn.State{Enabled: false, ExpiresAt: s.now()})
	if err != nil && !errors.Is(err, vpn.ErrNotFound) {
		return fmt.Errorf("suspending account %s of user %d on %s: %w", acc.Name, userID, m.Name(), err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		// The account's row first, as record takes it: an activation
		// recording now waits, rather than deadlocking on the accesses.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM vpn_accounts WHERE user_id = $1 FOR UPDATE`, userID); err != nil {
			return fmt.Errorf("locking the account: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE vpn_accesses a SET revoked_at = $2
			FROM subscriptions s
			WHERE a.subscription_id = s.id AND s.user_id = $1 AND s.status = 'active' AND a.revoked_at IS NULL`,
			userID, now); err != nil {
			return fmt.Errorf("marking the accesses revoked: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE vpn_accounts SET suspended_at = $2
			WHERE user_id = $1 AND suspended_at IS NULL
			  AND EXISTS (SELECT 1 FROM users WHERE id = $1 AND banned_at IS NOT NULL)`, userID, now); err != nil {
			return fmt.Errorf("marking the account suspended: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("suspending user %d: %w", userID, err)
	}
	return nil
}

// banned reports, in tx, whether the user is banned, holding their row
// against a ban until tx ends.
func banned(ctx context.Context, tx pgx.Tx, userID int64) (bool, error) {
	var is bool
	err := tx.QueryRow(ctx, `SELECT banned_at IS NOT NULL FROM users WHERE id = $1 FOR SHARE`, userID).Scan(&is)
	if err != nil {
		return false, fmt.Errorf("reading whether user %d is banned: %w", userID, err)
	}
	return is, nil
}

// unenable disables again an account an activation enabled for a user
// banned meanwhile, and returns ErrBanned. The ban came after the panel
// call began, so Suspend may have disabled the account before it was
// enabled: this call is what leaves it off.
func (s *Shop) unenable(ctx context.Context, sub Subscription, ref vpn.Ref, m *vpn.Member) error {
	_, err := m.SetAccount(ctx, ref, vpn.State{Enabled: false, ExpiresAt: s.now()})
	if err != nil && !errors.Is(err, vpn.ErrNotFound) {
		return fmt.Errorf("disabling account %s of user %d, banned while it was enabled: %w", refName(ref), sub.UserID, err)
	}
	return fmt.Errorf("subscription %d: %w", sub.ID, ErrBanned)
}
