package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Roles of the people who run the shop. Owners are the ADMIN_IDS of the
// configuration, never rows, so that no row can lock an owner out; admins
// (user actions, broadcasts) and support (read-only lookups) are granted in
// the bot, as rows of admin_roles.
const (
	RoleOwner   = "owner"
	RoleAdmin   = "admin"
	RoleSupport = "support"
)

// ErrUnknownRole: a role other than RoleAdmin, RoleSupport or "" (none) was
// to be granted.
var ErrUnknownRole = errors.New("unknown role")

// RoleGrant is a role granted to a user.
type RoleGrant struct {
	UserID    int64
	Role      string
	GrantedBy int64
	GrantedAt time.Time
	// Username is the user's Telegram username, if they started the bot
	// and have one.
	Username string
}

// Role is the role granted to the user in the database ("" for none).
// Whether they are an owner is the configuration's to say.
func (s *Shop) Role(ctx context.Context, userID int64) (string, error) {
	role, err := roleOf(ctx, s.pool, userID)
	if err != nil {
		return "", fmt.Errorf("reading the role of user %d: %w", userID, err)
	}
	return role, nil
}

func roleOf(ctx context.Context, q querier, userID int64) (string, error) {
	var role string
	err := q.QueryRow(ctx, `SELECT role FROM admin_roles WHERE user_id = $1`, userID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return role, err
}

// Roles lists the roles granted, admins first, then by when.
func (s *Shop) Roles(ctx context.Context) ([]RoleGrant, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT r.user_id, r.role, r.granted_by, r.granted_at, COALESCE(u.username, '')
		FROM admin_roles r LEFT JOIN users u ON u.id = r.user_id
		ORDER BY r.role <> 'admin', r.granted_at, r.user_id`)
	if err != nil {
		return nil, fmt.Errorf("listing the roles: %w", err)
	}
	gs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (RoleGrant, error) {
		var g RoleGrant
		err := row.Scan(&g.UserID, &g.Role, &g.GrantedBy, &g.GrantedAt, &g.Username)
		inUTC(&g.GrantedAt)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the roles: %w", err)
	}
	return gs, nil
}

// SetRole grants the user role (RoleAdmin or RoleSupport), replacing the
// one they had, or revokes theirs (role ""), with the audit row ActionRole
// (before and after: "role", nil for none). The user need not have started
// the bot yet. Who may do it (owners) is the caller's to check.
func (s *Shop) SetRole(ctx context.Context, act Act, userID int64, role string) (AdminResult, error) {
	if role != RoleAdmin && role != RoleSupport && role != "" {
		return AdminResult{}, fmt.Errorf("setting the role of user %d: %w %q", userID, ErrUnknownRole, role)
	}
	if userID == 0 {
		return AdminResult{}, fmt.Errorf("setting a role: %w", ErrUnknownUser)
	}
	return s.adminAct(ctx, act, ActionRole, userID, "", func(tx pgx.Tx, now time.Time) (change, error) {
		c := change{target: userID, before: map[string]any{"role": nil}, after: map[string]any{"role": nil}}
		// Changes of one user's role queue on this lock, so that each
		// records the role the one before it left, even where there was
		// no row to lock.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('admin_roles:' || $1::bigint, 0))`, userID); err != nil {
			return change{}, fmt.Errorf("locking the role: %w", err)
		}
		old, err := roleOf(ctx, tx, userID)
		if err != nil {
			return change{}, fmt.Errorf("reading the role: %w", err)
		}
		if old != "" {
			c.before["role"] = old
		}
		if role == "" {
			_, err = tx.Exec(ctx, `DELETE FROM admin_roles WHERE user_id = $1`, userID)
		} else {
			c.after["role"] = role
			_, err = tx.Exec(ctx, `
				INSERT INTO admin_roles (user_id, role, granted_by, granted_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (user_id) DO UPDATE SET role = EXCLUDED.role, granted_by = EXCLUDED.granted_by,
					granted_at = EXCLUDED.granted_at
				WHERE admin_roles.role <> EXCLUDED.role`, userID, role, act.AdminID, now)
		}
		if err != nil {
			return change{}, fmt.Errorf("writing the role: %w", err)
		}
		return c, nil
	})
}
