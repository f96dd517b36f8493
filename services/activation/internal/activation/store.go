package activation

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/retry"
	"github.com/vpnbot/vpnbot/pkg/vpn"
)

// kindKey is the notifications_sent kind of a key delivery. Its expires_at
// column holds the access's created_at: a key is delivered once per access
// made, and an extension (same access) delivers nothing.
const kindKey = "key"

// store is the worker's own SQL: which keys still need delivering, and
// recording that one was.
type store struct {
	pool *pgxpool.Pool
}

// undelivered is a live access whose key its user has not been sent.
type undelivered struct {
	SubscriptionID int64
	UserID         int64
	ChatID         int64
	Language       string
	ExpiresAt      time.Time
	Panel          string
	URL            string
	CreatedAt      time.Time
}

// undeliveredSQL lists the live accesses of running periods with no key
// notification for the access, oldest access first.
const undeliveredSQL = `
SELECT s.id, s.user_id, u.chat_id, u.language, s.expires_at, a.panel, a.access_url, a.created_at
FROM vpn_accesses a
JOIN subscriptions s ON s.id = a.subscription_id
JOIN users u ON u.id = s.user_id
WHERE a.revoked_at IS NULL AND s.status = 'active' AND s.expires_at > $1 AND u.chat_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM notifications_sent n
                  WHERE n.subscription_id = s.id AND n.kind = $2 AND n.expires_at = a.created_at)
ORDER BY a.created_at, s.id
LIMIT $3`

// Undelivered returns up to limit keys waiting for delivery.
func (s store) Undelivered(ctx context.Context, now time.Time, limit int) ([]undelivered, error) {
	rows, err := s.pool.Query(ctx, undeliveredSQL, now, kindKey, limit)
	if err != nil {
		return nil, fmt.Errorf("listing undelivered keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (undelivered, error) {
		var k undelivered
		err := row.Scan(&k.SubscriptionID, &k.UserID, &k.ChatID, &k.Language, &k.ExpiresAt, &k.Panel, &k.URL, &k.CreatedAt)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing undelivered keys: %w", err)
	}
	return keys, nil
}

// markDeliveredSQL inserts the rows in key order. Two replicas recording
// the same keys in their own orders could each wait for the other's
// uncommitted row (the conflict check waits for it), which PostgreSQL ends
// as a deadlock; in one order, the second waits for the first and then
// finds its rows there.
const markDeliveredSQL = `
INSERT INTO notifications_sent (subscription_id, kind, expires_at)
SELECT k.subscription_id, $2, k.made FROM unnest($1::bigint[], $3::timestamptz[]) AS k(subscription_id, made)
ORDER BY k.subscription_id, k.made
ON CONFLICT DO NOTHING`

// MarkDelivered records that the keys of the accesses made at
// accessesMade[i] for subscriptionIDs[i] were handed to the sender.
// Recording one twice (two replicas) is not an error.
func (s store) MarkDelivered(ctx context.Context, subscriptionIDs []int64, accessesMade []time.Time) error {
	_, err := s.pool.Exec(ctx, markDeliveredSQL, subscriptionIDs, kindKey, accessesMade)
	if err != nil {
		return fmt.Errorf("recording %d keys delivered: %w", len(subscriptionIDs), err)
	}
	return nil
}

// chat is where a user's messages go, and in which language.
type chat struct {
	ID       int64
	Language string
}

// Chats returns the chats of those of userIDs who have one, by user id.
func (s store) Chats(ctx context.Context, userIDs []int64) (map[int64]chat, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, chat_id, language FROM users WHERE id = ANY($1) AND chat_id IS NOT NULL`, userIDs)
	if err != nil {
		return nil, fmt.Errorf("reading the chats of %d users: %w", len(userIDs), err)
	}
	chats := map[int64]chat{}
	var (
		userID int64
		c      chat
	)
	_, err = pgx.ForEachRow(rows, []any{&userID, &c.ID, &c.Language}, func() error {
		chats[userID] = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the chats of %d users: %w", len(userIDs), err)
	}
	return chats, nil
}

// publishFleetSQL makes vpn_panels the fleet, in one statement: its panels
// upserted, in their configured order, and the others deleted.
const publishFleetSQL = `
WITH gone AS (DELETE FROM vpn_panels WHERE name <> ALL($1::text[]))
INSERT INTO vpn_panels AS p (name, kind, location, weight, capacity, position, updated_at)
SELECT f.name, f.kind, f.location, f.weight, f.capacity, f.position, now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[]) WITH ORDINALITY
	AS f(name, kind, location, weight, capacity, position)
ON CONFLICT (name) DO UPDATE
	SET kind = EXCLUDED.kind, location = EXCLUDED.location, weight = EXCLUDED.weight,
	    capacity = EXCLUDED.capacity, position = EXCLUDED.position, updated_at = EXCLUDED.updated_at`

// PublishFleet records the fleet's panels in vpn_panels, removing those no
// longer configured, for the services that hold no panel credentials: the
// bot-handler offers the locations it lists, and names a key's location by
// its panel.
func PublishFleet(ctx context.Context, pool *pgxpool.Pool, f *vpn.Fleet) error {
	members := f.Members()
	var (
		names, kinds, locations = make([]string, len(members)), make([]string, len(members)), make([]string, len(members))
		weights, capacities     = make([]int, len(members)), make([]int, len(members))
	)
	for i, m := range members {
		names[i], kinds[i], locations[i] = m.Name(), m.Kind(), m.Location()
		weights[i], capacities[i] = m.Weight(), m.Capacity()
	}
	if _, err := pool.Exec(ctx, publishFleetSQL, names, kinds, locations, weights, capacities); err != nil {
		return fmt.Errorf("recording the fleet's %d panels: %w", len(members), err)
	}
	return nil
}

// EventFleetNotRecorded: PublishFleet failed at start (the database
// unreachable); the replica, live but not ready, tries again.
const EventFleetNotRecorded = "FLEET_NOT_RECORDED"

// Bounds of PublishFleetWhenPossible's waits between attempts.
const (
	fleetRetryMin = 500 * time.Millisecond
	fleetRetryMax = 10 * time.Second
)

// PublishFleetWhenPossible is PublishFleet tried until it succeeds or ctx
// ends: a replica started during a database outage waits for the database,
// live but not ready, instead of exiting.
func PublishFleetWhenPossible(ctx context.Context, pool *pgxpool.Pool, f *vpn.Fleet, log zerolog.Logger) error {
	b := retry.Backoff{Min: fleetRetryMin, Max: fleetRetryMax}
	for {
		err := PublishFleet(ctx, pool, f)
		if err == nil {
			return nil
		}
		log.Warn().Str("event", EventFleetNotRecorded).Err(err).Msg("recording the fleet's panels failed; trying again")
		if !retry.Sleep(ctx, b.Next()) {
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		}
	}
}
