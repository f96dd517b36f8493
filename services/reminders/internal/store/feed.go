package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// Sources of the sales feed's events, as feed_events keeps them.
const (
	SourceLedger = "ledger"
	SourceAudit  = "audit"
)

// FeedEvent is one row of the ledger or of admin_audit for the sales feed,
// with the names of the users it concerns.
type FeedEvent struct {
	Source string
	ID     int64
	// Kind is the ledger row's kind, or the admin action.
	Kind      string
	CreatedAt time.Time
	// UserID is the ledger row's user, or the action's target (0: none).
	UserID   int64
	Username string
	// AdminID is who did the action (0 for a ledger row).
	AdminID       int64
	AdminUsername string
	// Currency, Amount, Money and Duration are the ledger row's.
	Currency string
	Amount   int64
	Money    int64
	Duration time.Duration
}

// FeedMessage is one claimed message of the sales feed.
type FeedMessage struct {
	ID      int64
	DedupID string
	ChatID  int64
	Text    string
	// Events is how many events it posts (0 for a summary).
	Events int
}

// FeedGuard is the hold of one replica on a chat's feed, for one pass: a
// transaction with the chat's feed_state row locked. Rollback or Commit
// ends it.
type FeedGuard struct {
	tx    pgx.Tx
	chat  int64
	since time.Time
}

// Since is where the pass starts scanning: no event older is posted.
func (g *FeedGuard) Since() time.Time { return g.since }

// GuardFeed takes the hold of chat's feed, creating its feed_state with
// since when it has none (the feed's first pass for the chat). ok is false,
// and nothing is held, when another session holds it: that replica's pass
// is posting the feed now.
//
// The hold is a row lock of a transaction kept open for the pass, not a
// session lock, so that it never outlives the pass on a connection given
// back to the pool, and ends with the session of a replica that died.
func (s *Store) GuardFeed(ctx context.Context, chat int64, since time.Time) (g *FeedGuard, ok bool, err error) {
	// Outside the guard's transaction: inserting there would wait on a row
	// another replica's pass inserted and has not committed.
	_, err = s.pool.Exec(ctx, `INSERT INTO feed_state (chat_id, since) VALUES ($1, $2) ON CONFLICT (chat_id) DO NOTHING`,
		chat, since)
	if err != nil {
		return nil, false, fmt.Errorf("starting the feed of chat %d: %w", chat, err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("holding the feed of chat %d: %w", chat, err)
	}
	g = &FeedGuard{tx: tx, chat: chat}
	err = tx.QueryRow(ctx, `SELECT since FROM feed_state WHERE chat_id = $1 FOR UPDATE SKIP LOCKED`, chat).Scan(&g.since)
	if err != nil {
		rerr := tx.Rollback(context.WithoutCancel(ctx))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, rerr
		}
		return nil, false, errors.Join(fmt.Errorf("holding the feed of chat %d: %w", chat, err), rerr)
	}
	return g, true, nil
}

// Advance moves the chat's start to since, unless it is there or beyond
// already; it takes effect with Commit.
func (g *FeedGuard) Advance(ctx context.Context, since time.Time) error {
	_, err := g.tx.Exec(ctx, `UPDATE feed_state SET since = $2 WHERE chat_id = $1 AND since < $2`, g.chat, since)
	if err != nil {
		return fmt.Errorf("moving the start of the feed of chat %d: %w", g.chat, err)
	}
	return nil
}

// Commit ends the hold, keeping what Advance did.
func (g *FeedGuard) Commit(ctx context.Context) error {
	if err := g.tx.Commit(ctx); err != nil {
		return fmt.Errorf("releasing the feed of chat %d: %w", g.chat, err)
	}
	return nil
}

// Rollback ends the hold, if Commit did not; its error is worth nothing
// more than a log line (a connection it fails on is closed, which ends the
// hold too).
func (g *FeedGuard) Rollback(ctx context.Context) error {
	if err := g.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("releasing the feed of chat %d: %w", g.chat, err)
	}
	return nil
}

const feedMessageColumns = `id, dedup_id, chat_id, text, events`

func scanFeedMessage(row pgx.Row) (FeedMessage, error) {
	var m FeedMessage
	err := row.Scan(&m.ID, &m.DedupID, &m.ChatID, &m.Text, &m.Events)
	return m, err
}

// UnpublishedFeedMessage returns the oldest message claimed and not yet
// handed to the sender, of any chat; found is false when there is none.
func (s *Store) UnpublishedFeedMessage(ctx context.Context) (m FeedMessage, found bool, err error) {
	m, err = scanFeedMessage(s.pool.QueryRow(ctx,
		`SELECT `+feedMessageColumns+` FROM feed_messages WHERE published_at IS NULL ORDER BY id LIMIT 1`))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return FeedMessage{}, false, nil
	case err != nil:
		return FeedMessage{}, false, fmt.Errorf("reading the feed's unpublished message: %w", err)
	}
	return m, true, nil
}

// unclaimedSQL lists the events not posted yet, created at or after $1, in
// the feed's order: (created_at, id), ledger first at the same instant. $2
// are the ledger kinds posted, $3 the admin actions, $4 the most to list.
const unclaimedSQL = `
WITH ev AS (
    (SELECT 'ledger' AS source, l.id, l.kind, l.created_at, l.user_id, 0::bigint AS admin_id,
            COALESCE(l.currency, '') AS currency, l.amount, l.money, l.duration
     FROM ledger l
     WHERE l.created_at >= $1 AND l.kind = ANY($2::text[])
       AND NOT EXISTS (SELECT 1 FROM feed_events f WHERE f.source = 'ledger' AND f.event_id = l.id)
     ORDER BY l.created_at, l.id
     LIMIT $4)
    UNION ALL
    (SELECT 'audit', a.id, a.action, a.created_at, COALESCE(a.target_id, 0), a.admin_id,
            '', 0, 0, interval '0'
     FROM admin_audit a
     WHERE a.created_at >= $1 AND a.action = ANY($3::text[])
       AND NOT EXISTS (SELECT 1 FROM feed_events f WHERE f.source = 'audit' AND f.event_id = a.id)
     ORDER BY a.created_at, a.id
     LIMIT $4)
)
SELECT ev.source, ev.id, ev.kind, ev.created_at, ev.user_id, COALESCE(u.username, ''),
       ev.admin_id, COALESCE(au.username, ''), ev.currency, ev.amount, ev.money, ev.duration
FROM ev
LEFT JOIN users u ON u.id = ev.user_id
LEFT JOIN users au ON au.id = ev.admin_id
ORDER BY ev.created_at, ev.source DESC, ev.id
LIMIT $4`

// UnclaimedFeedEvents returns up to limit events created at or after since
// and not posted yet, oldest first: the ledger rows of ledgerKinds and the
// admin_audit rows of actions.
func (s *Store) UnclaimedFeedEvents(ctx context.Context, since time.Time, ledgerKinds, actions []string, limit int) ([]FeedEvent, error) {
	rows, err := s.pool.Query(ctx, unclaimedSQL, since, ledgerKinds, actions, limit)
	if err != nil {
		return nil, fmt.Errorf("listing the feed's events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (FeedEvent, error) {
		var e FeedEvent
		err := row.Scan(&e.Source, &e.ID, &e.Kind, &e.CreatedAt, &e.UserID, &e.Username,
			&e.AdminID, &e.AdminUsername, &e.Currency, &e.Amount, &e.Money, &e.Duration)
		e.CreatedAt = e.CreatedAt.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the feed's events: %w", err)
	}
	return evs, nil
}

// ClaimFeedMessage records message m (its ID is ignored) as posting events,
// in one transaction, and returns it with its ID. claimed is false, and
// nothing is recorded, when one of the events or the dedup id was claimed
// already: by a pass that did not hold the feed (the guard is what keeps
// passes apart; this is the database's word on it).
func (s *Store) ClaimFeedMessage(ctx context.Context, m FeedMessage, events []FeedEvent, now time.Time) (FeedMessage, bool, error) {
	sources := make([]string, len(events))
	ids := make([]int64, len(events))
	for i, e := range events {
		sources[i], ids[i] = e.Source, e.ID
	}
	var claimed bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO feed_messages (dedup_id, chat_id, text, events, created_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (dedup_id) DO NOTHING
			RETURNING id`, m.DedupID, m.ChatID, m.Text, len(events), now).Scan(&m.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO feed_events (source, event_id, message_id)
			SELECT source, event_id, $3 FROM unnest($1::text[], $2::bigint[]) AS e(source, event_id)
			ON CONFLICT (source, event_id) DO NOTHING`, sources, ids, m.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != int64(len(events)) {
			return errEventsClaimed
		}
		claimed = true
		return nil
	})
	switch {
	case errors.Is(err, errEventsClaimed):
		return FeedMessage{}, false, nil
	case err != nil:
		return FeedMessage{}, false, fmt.Errorf("claiming feed message %s: %w", m.DedupID, err)
	case !claimed:
		return FeedMessage{}, false, nil
	}
	m.Events = len(events)
	return m, true, nil
}

// errEventsClaimed rolls back a message some of whose events another
// message has.
var errEventsClaimed = errors.New("events claimed by another message")

// FeedMessagePublished records message id as handed to the sender at now.
// first is false when it was recorded before (another replica published it
// too, as a duplicate the OUTBOX dropped).
func (s *Store) FeedMessagePublished(ctx context.Context, id int64, now time.Time) (first bool, err error) {
	tag, err := s.pool.Exec(ctx, `UPDATE feed_messages SET published_at = $2 WHERE id = $1 AND published_at IS NULL`, id, now)
	if err != nil {
		return false, fmt.Errorf("recording feed message %d as published: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// FeedMessagesClaimed is which of dedupIDs were claimed as messages, and
// when chatID's feed claimed its first message (zero if none).
func (s *Store) FeedMessagesClaimed(ctx context.Context, chatID int64, dedupIDs []string) (claimed map[string]bool, first time.Time, err error) {
	var ids []string
	var since *time.Time
	err = s.pool.QueryRow(ctx, `
SELECT ARRAY(SELECT dedup_id FROM feed_messages WHERE dedup_id = ANY($2)),
       (SELECT min(created_at) FROM feed_messages WHERE chat_id = $1)`, chatID, dedupIDs).Scan(&ids, &since)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("looking for feed messages %v: %w", dedupIDs, err)
	}
	claimed = make(map[string]bool, len(ids))
	for _, id := range ids {
		claimed[id] = true
	}
	if since != nil {
		first = *since
	}
	return claimed, first, nil
}

// DaySummary is what happened in the shop in one UTC day.
type DaySummary struct {
	NewUsers, Trials, Payments, TopUps, Purchases, Renewals, Refunds, Bans int
	// PaymentMoney, TopUpMoney and RefundMoney are by currency, in minor
	// units (refunds negative); Revenue is their sum, the day's money.
	PaymentMoney, TopUpMoney, RefundMoney, Revenue map[string]int64
}

// Summary counts the day starting at from (UTC midnight) and ending a day
// later; Bans counts the admin_audit rows of banAction.
func (s *Store) Summary(ctx context.Context, from time.Time, banAction string) (DaySummary, error) {
	to := from.AddDate(0, 0, 1)
	sum := DaySummary{PaymentMoney: map[string]int64{}, TopUpMoney: map[string]int64{},
		RefundMoney: map[string]int64{}, Revenue: map[string]int64{}}
	err := s.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM users WHERE created_at >= $1 AND created_at < $2),
		       (SELECT count(*) FROM admin_audit WHERE action = $3 AND created_at >= $1 AND created_at < $2)`,
		from, to, banAction).Scan(&sum.NewUsers, &sum.Bans)
	if err != nil {
		return DaySummary{}, fmt.Errorf("counting the users of %s: %w", from.Format(time.DateOnly), err)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT kind, COALESCE(currency, ''), count(*), COALESCE(sum(money), 0)
		FROM ledger WHERE created_at >= $1 AND created_at < $2
		GROUP BY kind, currency`, from, to)
	if err != nil {
		return DaySummary{}, fmt.Errorf("counting the ledger of %s: %w", from.Format(time.DateOnly), err)
	}
	var kind, currency string
	var n int
	var money int64
	_, err = pgx.ForEachRow(rows, []any{&kind, &currency, &n, &money}, func() error {
		switch kind {
		case shop.LedgerTrial:
			sum.Trials += n
		case shop.LedgerPayment:
			sum.Payments += n
			sum.PaymentMoney[currency] += money
		case shop.LedgerTopUp:
			sum.TopUps += n
			sum.TopUpMoney[currency] += money
		case shop.LedgerPurchase:
			sum.Purchases += n
		case shop.LedgerRenewal:
			sum.Renewals += n
		case shop.LedgerRefund:
			sum.Refunds += n
			sum.RefundMoney[currency] += money
		}
		if money != 0 {
			sum.Revenue[currency] += money
		}
		return nil
	})
	if err != nil {
		return DaySummary{}, fmt.Errorf("counting the ledger of %s: %w", from.Format(time.DateOnly), err)
	}
	return sum, nil
}
