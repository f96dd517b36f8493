package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cabinet is what the user's cabinet (the Mini App) shows first: who the
// user is, their active period with its key, where that key is, and their
// balances.
type Cabinet struct {
	ID        int64
	FirstName string
	Username  string
	// Language is the bot language the user chose.
	Language string
	// BannedAt is when an admin banned the user; nil when they are not.
	BannedAt *time.Time
	// Subscription is the active period, nil when there is none; it may be
	// past its expiry (see Subscription.Status).
	Subscription *Subscription
	// Location is the location of the panel the period's access is on, as
	// activation publishes the fleet (vpn_panels); "" for none.
	Location string
	Balances []Balance
}

// Cabinet reads the user's cabinet in one round trip: its reads, the same
// as UserInfo's, ActiveSubscription's and Balances', go to the database as
// one batch, since the cabinet is polled by every open page. ErrUnknownUser
// when there is no such user.
func (s *Shop) Cabinet(ctx context.Context, userID int64) (Cabinet, error) {
	c := Cabinet{ID: userID}
	b := &pgx.Batch{}
	b.Queue(`SELECT COALESCE(first_name, ''), COALESCE(username, ''), language, banned_at FROM users WHERE id = $1`, userID).
		QueryRow(func(row pgx.Row) error {
			err := row.Scan(&c.FirstName, &c.Username, &c.Language, &c.BannedAt)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrUnknownUser
			}
			inUTCOpt(&c.BannedAt)
			return err
		})
	b.Queue(subscriptionSelect+` WHERE s.user_id = $1 AND s.status = 'active'`, userID).QueryRow(func(row pgx.Row) error {
		sub, err := scanSubscription(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		c.Subscription = &sub
		return err
	})
	b.Queue(`SELECT p.location FROM subscriptions s
		JOIN vpn_accesses a ON a.subscription_id = s.id
		JOIN vpn_panels p ON p.name = a.panel
		WHERE s.user_id = $1 AND s.status = 'active'`, userID).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&c.Location)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // no access yet, or a panel no longer configured
		}
		return err
	})
	b.Queue(balancesSQL, userID).Query(func(rows pgx.Rows) error {
		var err error
		c.Balances, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Balance])
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return Cabinet{}, fmt.Errorf("reading the cabinet of user %d: %w", userID, err)
	}
	return c, nil
}
