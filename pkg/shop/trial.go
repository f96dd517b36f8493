package shop

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// StartTrial gives the user their one free trial: a period of
// Config.TrialDuration from now. It fails with ErrTrialUsed when the user took
// it before, including by a concurrent press, and with ErrAlreadySubscribed
// (leaving the trial unspent) when they have a running subscription. A user
// whose paid period has expired but is not revoked yet gets the trial on that
// period, from now, so they keep their key.
func (s *Shop) StartTrial(ctx context.Context, userID int64) (Subscription, error) {
	now := s.now()
	var sub Subscription
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The primary key decides: a concurrent insert waits for this
		// transaction and then finds the row, or takes over if it rolls back.
		tag, err := tx.Exec(ctx, `INSERT INTO trials (user_id, started_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`,
			userID, now)
		if isForeignKeyViolation(err) {
			return ErrUnknownUser
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrTrialUsed
		}
		id, found, err := grant(ctx, tx, userID, KindTrial, now, s.cfg.TrialDuration, true)
		if err != nil {
			return err
		}
		if !found {
			return ErrAlreadySubscribed // rolls the trial back
		}
		e := Entry{OpKey: "trial:" + strconv.FormatInt(userID, 10), UserID: userID, Kind: LedgerTrial,
			Duration: s.cfg.TrialDuration, SubscriptionID: id}
		if _, posted, err := appendEntry(ctx, tx, e, now); err != nil || !posted {
			return cmp.Or(err, errPostedBefore)
		}
		sub, err = subscriptionByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return Subscription{}, fmt.Errorf("starting the trial of user %d: %w", userID, err)
	}
	return sub, nil
}

// RunningTrial returns the period the user's trial runs on, or nil when no
// trial is running: never taken, over, or paid for since (the period then
// runs on as the user's subscription). A press of Free trial by a user whose
// trial runs, such as the retry of the press that started it, shows it
// rather than refusing it as used.
//
// The trial runs while its period ends where the trial does: when StartTrial
// granted it, the period's expiry became the trial's start plus
// TrialDuration, whether it started the period or extended an expired one,
// and only a payment moves that expiry again.
func (s *Shop) RunningTrial(ctx context.Context, userID int64) (*Subscription, error) {
	sub, err := scanSubscription(s.pool.QueryRow(ctx, subscriptionSelect+`
		JOIN trials t ON t.user_id = s.user_id
		WHERE s.user_id = $1 AND s.status = 'active'
			AND s.expires_at = t.started_at + $2::interval AND s.expires_at > $3`,
		userID, s.cfg.TrialDuration, s.now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the running trial of user %d: %w", userID, err)
	}
	return &sub, nil
}
