package shop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Admin actions, as stored in admin_audit.action.
const (
	ActionExtend       = "extend"
	ActionShorten      = "shorten"
	ActionEnd          = "end"
	ActionBan          = "ban"
	ActionUnban        = "unban"
	ActionReissue      = "reissue"
	ActionRefund       = "refund"
	ActionGrantBalance = "grant_balance"
	ActionMessage      = "message"
	ActionRole         = "role"
)

// ErrActConflict: an admin action was given the op key of another action
// (another kind, or about another user or invoice). Nothing changed.
var ErrActConflict = errors.New("op key names another admin action")

// Act is who does an admin action and its own key: the same OpKey is the
// same action, done once however often it is pressed or redelivered.
type Act struct {
	// OpKey is the action's key: the confirmation it was pressed on.
	OpKey string
	// AdminID is the Telegram user id of the admin (or owner) acting.
	AdminID int64
	// UpdateID is the Telegram update that caused the action, for the
	// audit trail; 0 when there is none.
	UpdateID int64
	// Note is the admin's reason, recorded with the action.
	Note string
}

// AuditEntry is one row of the audit trail: one admin action, never
// changed.
type AuditEntry struct {
	ID      int64
	OpKey   string
	AdminID int64
	Action  string
	// TargetID is the user the action was about; 0 for none.
	TargetID int64
	// Before and After are the state the action changed, as JSON holds it:
	// times are RFC 3339 strings, numbers json.Number, a state that was
	// absent (no period, no ban, no role) nil. Keys are the columns they
	// come from: expires_at, banned_at, balance, role.
	Before, After map[string]any
	Note          string
	// UpdateID is the Telegram update that caused it; 0 for none.
	UpdateID  int64
	CreatedAt time.Time
}

// AdminResult is what an admin action did. Applied is false when the op key
// was done before: Audit is then that first row, and nothing was changed
// now. Subscription is the user's active period after the action (as it
// is now, when not applied now), if any;
// Entry the ledger row the action wrote (or, when not applied now, wrote
// then), if any.
type AdminResult struct {
	Applied      bool
	Audit        AuditEntry
	Subscription *Subscription
	Entry        *Entry
}

// change is what an action's transaction did, for its audit row.
type change struct {
	// target is the user the action was about; 0 for none.
	target        int64
	before, after map[string]any
}

var (
	// errActedBefore rolls back an admin action whose op key is in the
	// trail.
	errActedBefore = errors.New("admin action recorded before")
	// errRaced rolls back an admin action that found the state it changed
	// changed under it, to run it again.
	errRaced = errors.New("state changed during the admin action")
)

// adminAttempts is how often an action that raced is run.
const adminAttempts = 3

// adminAct runs an admin action once per act.OpKey: in one transaction, it
// takes the op key's advisory lock (so presses of one action queue rather
// than race), looks for the key's audit row, and, when there is none, runs
// do and appends its row. The action and its row are committed together, or
// neither; one whose do found the state changed under it (errRaced) is run
// again. A key done before returns its first row with Applied false;
// ledgerKey, when not empty, names the ledger row the action writes, which
// the result carries either way. target is the user the action is about
// when the caller knows it (0 otherwise), to refuse a key reused for
// another user.
func (s *Shop) adminAct(ctx context.Context, act Act, action string, target int64, ledgerKey string,
	do func(tx pgx.Tx, now time.Time) (change, error),
) (AdminResult, error) {
	if act.OpKey == "" || act.AdminID == 0 {
		return AdminResult{}, fmt.Errorf("admin action %s: no op key or admin", action)
	}
	var res AdminResult
	var err error
	for range adminAttempts {
		res, err = s.adminTx(ctx, act, action, ledgerKey, do)
		if !errors.Is(err, errRaced) {
			break
		}
	}
	if errors.Is(err, errActedBefore) {
		return s.actedBefore(ctx, act, action, target, ledgerKey)
	}
	if err != nil {
		return AdminResult{}, fmt.Errorf("admin action %s (%s) by %d: %w", action, act.OpKey, act.AdminID, err)
	}
	res.Applied = true
	return res, nil
}

// adminTx is one attempt at adminAct's transaction.
func (s *Shop) adminTx(ctx context.Context, act Act, action string, ledgerKey string,
	do func(tx pgx.Tx, now time.Time) (change, error),
) (AdminResult, error) {
	now := s.now()
	var res AdminResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('admin_audit:' || $1, 0))`, act.OpKey); err != nil {
			return fmt.Errorf("locking op key: %w", err)
		}
		if _, err := auditByKey(ctx, tx, act.OpKey); err == nil {
			return errActedBefore
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("reading the audit row: %w", err)
		}
		c, err := do(tx, now)
		if err != nil {
			return err
		}
		res.Audit, err = appendAudit(ctx, tx, act, action, c, now)
		if err != nil {
			return err
		}
		return s.adminResult(ctx, tx, &res, ledgerKey)
	})
	return res, err
}

// actedBefore is the result of an action whose op key was done before.
func (s *Shop) actedBefore(ctx context.Context, act Act, action string, target int64, ledgerKey string) (AdminResult, error) {
	var res AdminResult
	var err error
	res.Audit, err = auditByKey(ctx, s.pool, act.OpKey)
	if err != nil {
		return AdminResult{}, fmt.Errorf("reading the audit row of %s: %w", act.OpKey, err)
	}
	if res.Audit.Action != action || (target != 0 && res.Audit.TargetID != target) {
		return AdminResult{}, fmt.Errorf("admin action %s on %d (%s): %w: it was %s on %d",
			action, target, act.OpKey, ErrActConflict, res.Audit.Action, res.Audit.TargetID)
	}
	if err := s.adminResult(ctx, s.pool, &res, ledgerKey); err != nil {
		return AdminResult{}, fmt.Errorf("reading the outcome of %s: %w", act.OpKey, err)
	}
	return res, nil
}

// adminResult fills res's period and ledger row from the audit row.
func (s *Shop) adminResult(ctx context.Context, q querier, res *AdminResult, ledgerKey string) error {
	if ledgerKey != "" {
		e, err := entryByKey(ctx, q, ledgerKey)
		switch {
		case err == nil:
			res.Entry = &e
		case !errors.Is(err, ErrUnknownEntry):
			return fmt.Errorf("reading ledger row %s: %w", ledgerKey, err)
		}
	}
	if res.Audit.TargetID == 0 {
		return nil
	}
	sub, err := scanSubscription(q.QueryRow(ctx, subscriptionSelect+` WHERE s.user_id = $1 AND s.status = 'active'`,
		res.Audit.TargetID))
	switch {
	case err == nil:
		res.Subscription = &sub
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("reading the active period of user %d: %w", res.Audit.TargetID, err)
	}
	return nil
}

const auditColumns = `id, op_key, admin_id, action, COALESCE(target_id, 0), before, after, note, COALESCE(update_id, 0), created_at`

func scanAudit(row pgx.Row) (AuditEntry, error) {
	var a AuditEntry
	var before, after []byte
	err := row.Scan(&a.ID, &a.OpKey, &a.AdminID, &a.Action, &a.TargetID, &before, &after, &a.Note, &a.UpdateID, &a.CreatedAt)
	if err != nil {
		return AuditEntry{}, err
	}
	inUTC(&a.CreatedAt)
	if a.Before, err = decodeState(before); err != nil {
		return AuditEntry{}, fmt.Errorf("audit row %d: %w", a.ID, err)
	}
	if a.After, err = decodeState(after); err != nil {
		return AuditEntry{}, fmt.Errorf("audit row %d: %w", a.ID, err)
	}
	return a, nil
}

// decodeState reads a before or after column, keeping numbers exact.
func decodeState(b []byte) (map[string]any, error) {
	if b == nil {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding a state: %w", err)
	}
	return m, nil
}

// encodeState writes a before or after column; nil is NULL.
func encodeState(m map[string]any) (*string, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding a state: %w", err)
	}
	return new(string(b)), nil
}

func auditByKey(ctx context.Context, q querier, opKey string) (AuditEntry, error) {
	return scanAudit(q.QueryRow(ctx, `SELECT `+auditColumns+` FROM admin_audit WHERE op_key = $1`, opKey))
}

// appendAudit inserts the action's row. A row of the op key committed
// meanwhile (which the advisory lock should have made impossible) is
// errActedBefore all the same: the unique op key is the last word.
func appendAudit(ctx context.Context, tx pgx.Tx, act Act, action string, c change, now time.Time) (AuditEntry, error) {
	before, err := encodeState(c.before)
	if err != nil {
		return AuditEntry{}, err
	}
	after, err := encodeState(c.after)
	if err != nil {
		return AuditEntry{}, err
	}
	var target, update *int64
	if c.target != 0 {
		target = &c.target
	}
	if act.UpdateID != 0 {
		update = &act.UpdateID
	}
	a, err := scanAudit(tx.QueryRow(ctx, `
		INSERT INTO admin_audit (op_key, admin_id, action, target_id, before, after, note, update_id, created_at)
		VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9)
		ON CONFLICT (op_key) DO NOTHING
		RETURNING `+auditColumns,
		act.OpKey, act.AdminID, action, target, before, after, act.Note, update, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return AuditEntry{}, errActedBefore
	}
	if err != nil {
		return AuditEntry{}, fmt.Errorf("recording the audit row: %w", err)
	}
	return a, nil
}

// Audit returns the latest admin actions about user targetID (0: about
// anyone), up to limit, newest first.
func (s *Shop) Audit(ctx context.Context, targetID int64, limit int) ([]AuditEntry, error) {
	var rows pgx.Rows
	var err error
	if targetID == 0 {
		rows, err = s.pool.Query(ctx, `SELECT `+auditColumns+` FROM admin_audit ORDER BY id DESC LIMIT $1`, limit)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+auditColumns+` FROM admin_audit WHERE target_id = $1 ORDER BY id DESC LIMIT $2`,
			targetID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the audit trail of %d: %w", targetID, err)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEntry, error) { return scanAudit(row) })
	if err != nil {
		return nil, fmt.Errorf("reading the audit trail of %d: %w", targetID, err)
	}
	return es, nil
}
