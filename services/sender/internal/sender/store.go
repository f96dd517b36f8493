package sender

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// store is all the SQL the sender runs: the sent-log (sent_messages) and the
// users' blocked_at.
type store struct {
	pool *pgxpool.Pool
}

// state reports whether the command dedupID was sent already, and whether
// the user of chatID (in a private chat the chat id is the user id) has
// blocked the bot.
func (s store) state(ctx context.Context, dedupID string, chatID int64) (sent, blocked bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM sent_messages WHERE dedup_id = $1),
		EXISTS (SELECT 1 FROM users WHERE id = $2 AND blocked_at IS NOT NULL)`, dedupID, chatID).Scan(&sent, &blocked)
	if err != nil {
		return false, false, fmt.Errorf("reading the sent-log and blocked state of %s: %w", dedupID, err)
	}
	return sent, blocked, nil
}

// recordSent adds dedupID to the sent-log. A second record of the same id
// (two leaders overlapping) changes nothing.
func (s store) recordSent(ctx context.Context, dedupID string, chatID, messageID int64) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sent_messages (dedup_id, chat_id, telegram_message_id)
		VALUES ($1, $2, $3) ON CONFLICT (dedup_id) DO NOTHING`, dedupID, chatID, messageID)
	if err != nil {
		return fmt.Errorf("recording %s as sent: %w", dedupID, err)
	}
	return nil
}

// markBlocked records that the user of chatID blocked the bot, so the
// workers stop targeting them and the sender drops what is still queued.
func (s store) markBlocked(ctx context.Context, chatID int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE users SET blocked_at = now(), updated_at = now()
		WHERE id = $1 AND blocked_at IS NULL`, chatID)
	if err != nil {
		return fmt.Errorf("marking user %d blocked: %w", chatID, err)
	}
	return nil
}
