package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Segments of users a broadcast can go to.
const (
	SegmentAll     = "all"     // everyone who has not blocked the bot
	SegmentActive  = "active"  // with a subscription running now
	SegmentExpired = "expired" // had a subscription, has none running now
)

// NewBroadcast is an admin's /broadcast, named by the update that asked for it.
type NewBroadcast struct {
	BotID    int64
	UpdateID int64
	AdminID  int64
	Segment  string
	Text     string
}

// Broadcast is a broadcast as recorded.
type Broadcast struct {
	ID        int64
	AdminID   int64
	Segment   string
	Text      string
	Total     int
	CreatedAt time.Time
}

// BroadcastProgress is how far the sender got with a broadcast.
type BroadcastProgress struct {
	Broadcast
	// Sent is how many recipients Telegram took the message for.
	Sent int
	// Blocked is how many recipients not sent to have blocked the bot: the
	// sender drops their messages, so they will never get it.
	Blocked int
}

// Waiting is how many recipients are still queued.
func (p BroadcastProgress) Waiting() int { return max(0, p.Total-p.Sent-p.Blocked) }

// The segments' conditions on u (users). A blocked user is in none: the
// sender would only drop their message.
const segmentSQL = `
	u.blocked_at IS NULL AND CASE $5::text
	WHEN 'all' THEN true
	WHEN 'active' THEN EXISTS (SELECT 1 FROM subscriptions s
		WHERE s.user_id = u.id AND s.status = 'active' AND s.expires_at > now())
	WHEN 'expired' THEN EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id)
		AND NOT EXISTS (SELECT 1 FROM subscriptions s
			WHERE s.user_id = u.id AND s.status = 'active' AND s.expires_at > now())
	END`

// One statement, so the broadcast and its recipients exist together or not
// at all. ON CONFLICT DO NOTHING makes a redelivered update insert nothing
// (and its recipients CTE select no broadcast); the caller then reads the
// broadcast the first delivery made.
const createBroadcastSQL = `
WITH b AS (
	INSERT INTO broadcasts (bot_id, update_id, admin_id, segment, text, total)
	VALUES ($1, $2, $3, $5, $4, (SELECT count(*) FROM users u WHERE ` + segmentSQL + `))
	ON CONFLICT (bot_id, update_id) DO NOTHING
	RETURNING id, admin_id, segment, text, total, created_at
), r AS (
	INSERT INTO broadcast_recipients (broadcast_id, user_id)
	SELECT b.id, u.id FROM b, users u WHERE ` + segmentSQL + `
)
SELECT id, admin_id, segment, text, total, created_at FROM b`

const broadcastByUpdateSQL = `
SELECT id, admin_id, segment, text, total, created_at FROM broadcasts WHERE bot_id = $1 AND update_id = $2`

// CreateBroadcast records a broadcast and its recipients, the users of its
// segment now, or for an update that made one already returns that one:
// created says which. Either way the recipients are those of the returned
// broadcast.
func (s *Store) CreateBroadcast(ctx context.Context, nb NewBroadcast) (b Broadcast, created bool, err error) {
	err = s.pool.QueryRow(ctx, createBroadcastSQL, nb.BotID, nb.UpdateID, nb.AdminID, nb.Text, nb.Segment).
		Scan(&b.ID, &b.AdminID, &b.Segment, &b.Text, &b.Total, &b.CreatedAt)
	if err == nil {
		return b, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Broadcast{}, false, fmt.Errorf("creating the broadcast of update %d: %w", nb.UpdateID, err)
	}
	err = s.pool.QueryRow(ctx, broadcastByUpdateSQL, nb.BotID, nb.UpdateID).
		Scan(&b.ID, &b.AdminID, &b.Segment, &b.Text, &b.Total, &b.CreatedAt)
	if err != nil {
		return Broadcast{}, false, fmt.Errorf("reading the broadcast of update %d: %w", nb.UpdateID, err)
	}
	return b, false, nil
}

// BroadcastRecipients lists the user ids a broadcast goes to, in id order.
func (s *Store) BroadcastRecipients(ctx context.Context, broadcastID int64) ([]int64, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT user_id FROM broadcast_recipients WHERE broadcast_id = $1 ORDER BY user_id`, broadcastID)
	if err != nil {
		return nil, fmt.Errorf("listing recipients of broadcast %d: %w", broadcastID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("listing recipients of broadcast %d: %w", broadcastID, err)
	}
	return ids, nil
}

// The sent-log is looked up by each recipient's dedup id (its primary key),
// which is the sender's record of "broadcast:<id>:<user id>" having gone out.
const broadcastProgressSQL = `
SELECT b.id, b.admin_id, b.segment, b.text, b.total, b.created_at,
	count(sm.dedup_id),
	count(*) FILTER (WHERE sm.dedup_id IS NULL AND u.blocked_at IS NOT NULL)
FROM broadcasts b
LEFT JOIN broadcast_recipients r ON r.broadcast_id = b.id
LEFT JOIN users u ON u.id = r.user_id
LEFT JOIN sent_messages sm ON sm.dedup_id = 'broadcast:' || b.id || ':' || r.user_id
WHERE b.id = $1
GROUP BY b.id`

// BroadcastProgress reads how far a broadcast got; found is false when there
// is no such broadcast.
func (s *Store) BroadcastProgress(ctx context.Context, broadcastID int64) (p BroadcastProgress, found bool, err error) {
	err = s.pool.QueryRow(ctx, broadcastProgressSQL, broadcastID).Scan(
		&p.ID, &p.AdminID, &p.Segment, &p.Text, &p.Total, &p.CreatedAt, &p.Sent, &p.Blocked)
	if errors.Is(err, pgx.ErrNoRows) {
		return BroadcastProgress{}, false, nil
	}
	if err != nil {
		return BroadcastProgress{}, false, fmt.Errorf("reading progress of broadcast %d: %w", broadcastID, err)
	}
	return p, true, nil
}
