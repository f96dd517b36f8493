package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// NoticeOnce sends a notice of kind to userID once: it records the notice
// (user_notices) and calls send in one transaction. A concurrent claim of
// the same notice waits on the row and then finds it recorded; a send that
// fails records nothing, so the notice is tried again. sent is false when
// the notice was recorded before.
func (s *Store) NoticeOnce(ctx context.Context, userID int64, kind string, send func() error) (sent bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`INSERT INTO user_notices (user_id, kind, sent_at) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING`, userID, kind)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		sent = true
		return send()
	})
	if err != nil {
		return false, fmt.Errorf("sending notice %s to user %d: %w", kind, userID, err)
	}
	return sent, nil
}
