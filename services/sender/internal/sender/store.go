package sender

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// store is all the SQL the sender runs: the sent-log (sent_messages), the
// users' blocked_at and the broadcasts' cancelled_at.
type store struct {
	pool *pgxpool.Pool
}

// command names a command for the sent-log: its dedup id and its chat.
type command struct {
	dedupID string
	chatID  int64
}

// commandState is what the database says of a command before it is sent.
type commandState struct {
	// sent: the command's dedup id is in the sent-log already.
	sent bool
	// blocked: the user of the chat (in a private chat the chat id is the
	// user id) has blocked the bot.
	blocked bool
}

// states reads the state of each command, in one round trip for them all.
func (s store) states(ctx context.Context, cmds []command) ([]commandState, error) {
	ids, chats := make([]string, len(cmds)), make([]int64, len(cmds))
	for i, c := range cmds {
		ids[i], chats[i] = c.dedupID, c.chatID
	}
	rows, err := s.pool.Query(ctx, `SELECT
		EXISTS (SELECT 1 FROM sent_messages WHERE dedup_id = c.dedup_id),
		EXISTS (SELECT 1 FROM users WHERE id = c.chat_id AND blocked_at IS NOT NULL)
		FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS c (dedup_id, chat_id, n)
		ORDER BY c.n`, ids, chats)
	if err != nil {
		return nil, fmt.Errorf("reading the sent-log and blocked state of %d commands: %w", len(cmds), err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (commandState, error) {
		var st commandState
		err := row.Scan(&st.sent, &st.blocked)
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the sent-log and blocked state of %d commands: %w", len(cmds), err)
	}
	return out, nil
}

// sentRecord is a sent-log entry: the command and the id Telegram gave its
// message.
type sentRecord struct {
	command
	messageID int64
}

// recordSent adds the records to the sent-log in one statement (one commit
// for them all). A second record of the same id (two leaders overlapping)
// changes nothing.
func (s store) recordSent(ctx context.Context, recs []sentRecord) ([]struct{}, error) {
	ids, chats, msgs := make([]string, len(recs)), make([]int64, len(recs)), make([]int64, len(recs))
	for i, r := range recs {
		ids[i], chats[i], msgs[i] = r.dedupID, r.chatID, r.messageID
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sent_messages (dedup_id, chat_id, telegram_message_id)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) ON CONFLICT (dedup_id) DO NOTHING`, ids, chats, msgs)
	if err != nil {
		return nil, fmt.Errorf("recording %d messages as sent: %w", len(recs), err)
	}
	return make([]struct{}, len(recs)), nil
}

// broadcastCancelled reports whether an admin cancelled broadcast id; an
// unknown broadcast is not.
func (s store) broadcastCancelled(ctx context.Context, id int64) (bool, error) {
	var cancelled bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM broadcasts WHERE id = $1 AND cancelled_at IS NOT NULL)`,
		id).Scan(&cancelled)
	if err != nil {
		return false, fmt.Errorf("reading whether broadcast %d is cancelled: %w", id, err)
	}
	return cancelled, nil
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
