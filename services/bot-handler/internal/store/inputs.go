package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// An admin input is a question the user card asked an admin (an amount
// for the balance, a text for a message) that their next plain text
// answers (admin_inputs). There is one per admin: a new question replaces
// the open one.

// Input is an admin's open question: the action it is for and its target.
type Input struct {
	Action   string
	TargetID int64
}

// AskInput records that the next text of adminID, within its time to
// live, answers action on targetID, replacing any question open before.
func (s *Store) AskInput(ctx context.Context, adminID int64, action string, targetID int64) error {
	_, err := s.pool.Exec(ctx, `
INSERT INTO admin_inputs (admin_id, action, target_id, asked_at) VALUES ($1, $2, $3, now())
ON CONFLICT (admin_id) DO UPDATE SET
	action = EXCLUDED.action, target_id = EXCLUDED.target_id, asked_at = now(), answer_update = NULL, answer = NULL`,
		adminID, action, targetID)
	if err != nil {
		return fmt.Errorf("asking admin %d for the input of %s on user %d: %w", adminID, action, targetID, err)
	}
	return nil
}

// CancelInput closes the open question of adminID, if any.
func (s *Store) CancelInput(ctx context.Context, adminID int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM admin_inputs WHERE admin_id = $1`, adminID); err != nil {
		return fmt.Errorf("closing the question of admin %d: %w", adminID, err)
	}
	return nil
}

// OpenInput is the question a text of adminID in update updateID answers:
// one asked within ttl and not answered by another update (the same
// update redelivered answers it again). found is false when none is open.
func (s *Store) OpenInput(ctx context.Context, adminID, updateID int64, ttl time.Duration) (in Input, found bool, err error) {
	err = s.pool.QueryRow(ctx, `
SELECT action, target_id FROM admin_inputs
WHERE admin_id = $1 AND asked_at > now() - $2::interval AND (answer_update IS NULL OR answer_update = $3)`,
		adminID, ttl, updateID).Scan(&in.Action, &in.TargetID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Input{}, false, nil
	}
	if err != nil {
		return Input{}, false, fmt.Errorf("reading the open question of admin %d: %w", adminID, err)
	}
	return in, true, nil
}

// AnswerInput records text, of update updateID, as the answer of the open
// question in. answered is false when that question is no longer open
// (replaced, closed, or answered by another update).
func (s *Store) AnswerInput(ctx context.Context, adminID, updateID int64, in Input, text string) (answered bool, err error) {
	tag, err := s.pool.Exec(ctx, `
UPDATE admin_inputs SET answer_update = $2, answer = $3
WHERE admin_id = $1 AND action = $4 AND target_id = $5 AND (answer_update IS NULL OR answer_update = $2)`,
		adminID, updateID, text, in.Action, in.TargetID)
	if err != nil {
		return false, fmt.Errorf("recording the answer of admin %d: %w", adminID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// InputAnswer is the text update updateID gave as the answer of in, for
// the confirmation's yes. found is false when a later question replaced
// it.
func (s *Store) InputAnswer(ctx context.Context, adminID, updateID int64, in Input) (text string, found bool, err error) {
	err = s.pool.QueryRow(ctx, `
SELECT answer FROM admin_inputs WHERE admin_id = $1 AND answer_update = $2 AND action = $3 AND target_id = $4`,
		adminID, updateID, in.Action, in.TargetID).Scan(&text)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the answer of admin %d: %w", adminID, err)
	}
	return text, true, nil
}
