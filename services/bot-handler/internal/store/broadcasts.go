package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Segments of users a broadcast can go to. A user who blocked the bot is in
// none: the sender would only drop their message.
const (
	SegmentAll       = "all"        // everyone
	SegmentActive    = "active"     // with a subscription running now
	SegmentExpired   = "expired"    // had a subscription, has none running now
	SegmentTrial     = "trial"      // on a running trial
	SegmentNeverPaid = "never_paid" // no paid invoice ever
	SegmentLangEN    = "lang:en"    // speaking English with the bot
	SegmentLangRU    = "lang:ru"    // speaking Russian with the bot
)

// Segments are all the segments, in the order admins are shown them.
var Segments = []string{SegmentAll, SegmentActive, SegmentExpired, SegmentTrial, SegmentNeverPaid, SegmentLangEN, SegmentLangRU}

// States of a broadcast.
const (
	// StateDraft is a broadcast previewed to its admin, not confirmed yet:
	// it has no recipients, and nothing of it is queued.
	StateDraft = "draft"
	// StateSending is a confirmed broadcast: its recipients are fixed and
	// its messages queued.
	StateSending = "sending"
)

// BroadcastButton is one inline button under a broadcast: it opens URL, or
// sends Callback back to the bot.
type BroadcastButton struct {
	Text     string `json:"text"`
	URL      string `json:"url,omitempty"`
	Callback string `json:"callback,omitempty"`
}

// NewBroadcast is an admin's /broadcast, named by the update that asked for it.
type NewBroadcast struct {
	BotID    int64
	UpdateID int64
	AdminID  int64
	Segment  string
	// Text is the message, or the photo's caption.
	Text string
	// Photo is the Telegram file_id of the photo, or "" for a text message.
	Photo string
	// Buttons are the inline keyboard's rows.
	Buttons [][]BroadcastButton
}

// Broadcast is a broadcast as recorded.
type Broadcast struct {
	ID      int64
	AdminID int64
	Segment string
	Text    string
	Photo   string
	Buttons [][]BroadcastButton
	State   string
	// Paid is Telegram's allow_paid_broadcast, chosen at confirmation.
	Paid bool
	// Total is the number of recipients: for a draft, how many the segment
	// holds now; from confirmation on, the recipients fixed then.
	Total       int
	CreatedAt   time.Time
	ConfirmedAt *time.Time
	CancelledAt *time.Time
}

// BroadcastProgress is how far the sender got with a broadcast.
type BroadcastProgress struct {
	Broadcast
	// Sent is how many recipients Telegram took the message for.
	Sent int
	// Blocked is how many recipients not sent to have blocked the bot: the
	// sender drops their messages, so they will never get it.
	Blocked int
	// Failed is how many recipients not sent to, not blocked, the sender
	// gave up on (it dead-lettered their message).
	Failed int
	// LastSentAt is when the latest message went out, nil before the first.
	LastSentAt *time.Time
}

// Unsent is how many recipients have not got the message, have not
// blocked the bot and were not given up on: waiting, or never to be sent
// once the broadcast is cancelled.
func (p BroadcastProgress) Unsent() int { return max(0, p.Total-p.Sent-p.Blocked-p.Failed) }

// Waiting is how many recipients are still queued.
func (p BroadcastProgress) Waiting() int {
	if p.CancelledAt != nil {
		return 0
	}
	return p.Unsent()
}

// Cancelled is how many recipients will not get the message because the
// broadcast was cancelled.
func (p BroadcastProgress) Cancelled() int {
	if p.CancelledAt == nil {
		return 0
	}
	return p.Unsent()
}

// segmentSQL is the condition on u (users) of the segment the SQL
// expression segment names.
func segmentSQL(segment string) string {
	return strings.ReplaceAll(`
	u.blocked_at IS NULL AND CASE SEGMENT
	WHEN 'all' THEN true
	WHEN 'active' THEN EXISTS (SELECT 1 FROM subscriptions s
		WHERE s.user_id = u.id AND s.status = 'active' AND s.expires_at > now())
	WHEN 'expired' THEN EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id)
		AND NOT EXISTS (SELECT 1 FROM subscriptions s
			WHERE s.user_id = u.id AND s.status = 'active' AND s.expires_at > now())
	WHEN 'trial' THEN EXISTS (SELECT 1 FROM subscriptions s
		WHERE s.user_id = u.id AND s.kind = 'trial' AND s.status = 'active' AND s.expires_at > now())
	WHEN 'never_paid' THEN NOT EXISTS (SELECT 1 FROM invoices i WHERE i.user_id = u.id AND i.status = 'paid')
	WHEN 'lang:en' THEN u.language = 'en'
	WHEN 'lang:ru' THEN u.language = 'ru'
	END`, "SEGMENT", segment)
}

const broadcastColumns = `id, admin_id, segment, text, photo, buttons, state, paid, total, created_at, confirmed_at, cancelled_at`

func scanBroadcast(row pgx.Row, more ...any) (b Broadcast, err error) {
	err = row.Scan(append([]any{&b.ID, &b.AdminID, &b.Segment, &b.Text, &b.Photo, &b.Buttons, &b.State, &b.Paid,
		&b.Total, &b.CreatedAt, &b.ConfirmedAt, &b.CancelledAt}, more...)...)
	return b, err
}

// ON CONFLICT DO NOTHING makes a redelivered update insert nothing; the
// caller then reads the draft the first delivery made.
var createBroadcastSQL = `
INSERT INTO broadcasts (bot_id, update_id, admin_id, segment, text, photo, buttons, state, total)
VALUES ($2, $3, $4, $1::text, $5, $6, $7, 'draft', (SELECT count(*) FROM users u WHERE ` + segmentSQL("$1::text") + `))
ON CONFLICT (bot_id, update_id) DO NOTHING
RETURNING ` + broadcastColumns

const broadcastByUpdateSQL = `SELECT ` + broadcastColumns + ` FROM broadcasts WHERE bot_id = $1 AND update_id = $2`

// CreateBroadcast records a draft broadcast, or for an update that made one
// already returns that one: created says which.
func (s *Store) CreateBroadcast(ctx context.Context, nb NewBroadcast) (b Broadcast, created bool, err error) {
	buttons := nb.Buttons
	if buttons == nil {
		buttons = [][]BroadcastButton{}
	}
	b, err = scanBroadcast(s.pool.QueryRow(ctx, createBroadcastSQL,
		nb.Segment, nb.BotID, nb.UpdateID, nb.AdminID, nb.Text, nb.Photo, buttons))
	if err == nil {
		return b, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Broadcast{}, false, fmt.Errorf("creating the broadcast of update %d: %w", nb.UpdateID, err)
	}
	b, err = scanBroadcast(s.pool.QueryRow(ctx, broadcastByUpdateSQL, nb.BotID, nb.UpdateID))
	if err != nil {
		return Broadcast{}, false, fmt.Errorf("reading the broadcast of update %d: %w", nb.UpdateID, err)
	}
	return b, false, nil
}

// One statement, so a broadcast is confirmed with its recipients or not at
// all. The row lock of the UPDATE orders concurrent confirmations: the
// second finds the state changed and updates nothing.
var confirmBroadcastSQL = `
WITH b AS (
	UPDATE broadcasts SET state = 'sending', paid = $2, confirmed_at = now(),
		total = (SELECT count(*) FROM users u WHERE ` + segmentSQL("broadcasts.segment") + `)
	WHERE id = $1 AND state = 'draft' AND cancelled_at IS NULL
	RETURNING ` + broadcastColumns + `
), r AS (
	INSERT INTO broadcast_recipients (broadcast_id, user_id)
	SELECT b.id, u.id FROM b, users u WHERE ` + segmentSQL("b.segment") + `
)
SELECT ` + broadcastColumns + ` FROM b`

// ConfirmBroadcast turns a draft into a broadcast being sent, as a paid
// broadcast or not, and fixes its recipients: the users of its segment now.
// confirmed is false when it did nothing: b is then the broadcast as it is
// (confirmed before, or a cancelled draft), and found is false when there is
// no such broadcast.
func (s *Store) ConfirmBroadcast(ctx context.Context, id int64, paid bool) (b Broadcast, confirmed, found bool, err error) {
	b, err = scanBroadcast(s.pool.QueryRow(ctx, confirmBroadcastSQL, id, paid))
	if err == nil {
		return b, true, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Broadcast{}, false, false, fmt.Errorf("confirming broadcast %d: %w", id, err)
	}
	b, found, err = s.Broadcast(ctx, id)
	return b, false, found, err
}

const cancelBroadcastSQL = `
UPDATE broadcasts SET cancelled_at = now() WHERE id = $1 AND state = $2 AND cancelled_at IS NULL RETURNING ` + broadcastColumns

// CancelBroadcast cancels a broadcast in state: a draft can no longer be
// confirmed, and the sender drops a sending one's messages not sent yet.
// The state is the caller's promise of what is cancelled, so that dropping
// a draft never cancels the broadcast it became. cancelled is false when it
// did nothing (cancelled before, or in another state: b is then as it is),
// and found is false when there is no such broadcast.
func (s *Store) CancelBroadcast(ctx context.Context, id int64, state string) (b Broadcast, cancelled, found bool, err error) {
	b, err = scanBroadcast(s.pool.QueryRow(ctx, cancelBroadcastSQL, id, state))
	if err == nil {
		return b, true, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Broadcast{}, false, false, fmt.Errorf("cancelling broadcast %d: %w", id, err)
	}
	b, found, err = s.Broadcast(ctx, id)
	return b, false, found, err
}

// Broadcast reads a broadcast; found is false when there is none with id.
func (s *Store) Broadcast(ctx context.Context, id int64) (b Broadcast, found bool, err error) {
	b, err = scanBroadcast(s.pool.QueryRow(ctx, `SELECT `+broadcastColumns+` FROM broadcasts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Broadcast{}, false, nil
	}
	if err != nil {
		return Broadcast{}, false, fmt.Errorf("reading broadcast %d: %w", id, err)
	}
	return b, true, nil
}

// BroadcastRecipients lists the user ids a broadcast goes to, in id order:
// none before it is confirmed.
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
var broadcastProgressSQL = `
SELECT b.id, b.admin_id, b.segment, b.text, b.photo, b.buttons, b.state, b.paid, b.total, b.created_at,
	b.confirmed_at, b.cancelled_at,
	count(sm.dedup_id),
	count(*) FILTER (WHERE sm.dedup_id IS NULL AND u.blocked_at IS NOT NULL),
	count(*) FILTER (WHERE sm.dedup_id IS NULL AND u.blocked_at IS NULL AND r.user_id = ANY($2::bigint[])),
	max(sm.sent_at)
FROM broadcasts b
LEFT JOIN broadcast_recipients r ON r.broadcast_id = b.id
LEFT JOIN users u ON u.id = r.user_id
LEFT JOIN sent_messages sm ON sm.dedup_id = 'broadcast:' || b.id || ':' || r.user_id
WHERE b.id = $1
GROUP BY b.id`

// BroadcastProgress reads how far a broadcast got, given the recipients
// whose messages the sender gave up on (a message given up on and sent
// after, replayed from the dead letters, counts as sent); found is false
// when there is no such broadcast.
func (s *Store) BroadcastProgress(ctx context.Context, broadcastID int64, failed []int64) (p BroadcastProgress, found bool, err error) {
	if failed == nil {
		failed = []int64{}
	}
	p.Broadcast, err = scanBroadcast(s.pool.QueryRow(ctx, broadcastProgressSQL, broadcastID, failed),
		&p.Sent, &p.Blocked, &p.Failed, &p.LastSentAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return BroadcastProgress{}, false, nil
	}
	if err != nil {
		return BroadcastProgress{}, false, fmt.Errorf("reading progress of broadcast %d: %w", broadcastID, err)
	}
	return p, true, nil
}
