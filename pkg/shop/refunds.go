package shop

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotPaid: the invoice has no payment to refund.
var ErrNotPaid = errors.New("invoice not paid")

// RefundKey is the op key of the refund of invoiceID's payment.
func RefundKey(invoiceID int64) string { return "refund:" + strconv.FormatInt(invoiceID, 10) }

// Refund reverses the payment of a paid invoice in the ledger, once however
// often it is asked (RefundKey): the money goes back (Money), and what it
// bought is taken back: a top-up's credit from the balance, a plan's
// duration from the period it extended, while that period is active, and
// no further back than now (the period then ends now, and is revoked as any
// other that ended). applied is false when the invoice was refunded before;
// e is then that refund. A top-up whose credit was spent since is
// ErrInsufficientBalance, and nothing changes.
func (s *Shop) Refund(ctx context.Context, invoiceID int64) (e Entry, applied bool, err error) {
	now := s.now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		e, err = refund(ctx, tx, invoiceID, now)
		return err
	})
	if errors.Is(err, errPostedBefore) {
		e, err = entryByKey(ctx, s.pool, RefundKey(invoiceID))
		if err != nil {
			return Entry{}, false, fmt.Errorf("reading the refund of invoice %d: %w", invoiceID, err)
		}
		return e, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("refunding invoice %d: %w", invoiceID, err)
	}
	return e, true, nil
}

// refund is Refund's transaction. A refund posted before is
// errPostedBefore, to roll tx back with.
func refund(ctx context.Context, tx pgx.Tx, invoiceID int64, now time.Time) (Entry, error) {
	paid, err := scanEntry(tx.QueryRow(ctx, `SELECT `+entryColumns+` FROM ledger
		WHERE invoice_id = $1 AND kind IN ('payment', 'topup')`, invoiceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, ErrNotPaid
	}
	if err != nil {
		return Entry{}, err
	}
	e := Entry{
		OpKey: RefundKey(invoiceID), UserID: paid.UserID, Kind: LedgerRefund, Currency: paid.Currency,
		Amount: -paid.Amount, Money: -paid.Money, InvoiceID: invoiceID, Ref: paid.OpKey,
	}
	if paid.Duration > 0 {
		taken, err := takeBack(ctx, tx, paid.SubscriptionID, paid.Duration, now)
		if err != nil {
			return Entry{}, err
		}
		if taken > 0 {
			e.Duration, e.SubscriptionID = -taken, paid.SubscriptionID
		}
	}
	e, posted, err := appendEntry(ctx, tx, e, now)
	if err == nil && !posted {
		err = errPostedBefore
	}
	return e, err
}

// takeBack shortens the active period subID by up to d, to no earlier than
// now, and returns by how much.
func takeBack(ctx context.Context, tx pgx.Tx, subID int64, d time.Duration, now time.Time) (time.Duration, error) {
	var before, after time.Time
	err := tx.QueryRow(ctx, `
		WITH old AS (SELECT id, expires_at FROM subscriptions WHERE id = $1 AND status = 'active' FOR UPDATE)
		UPDATE subscriptions s
		SET expires_at = LEAST(s.expires_at,
			GREATEST($3::timestamptz, s.starts_at + interval '1 second', s.expires_at - $2::interval)),
		    updated_at = $3
		FROM old WHERE s.id = old.id
		RETURNING old.expires_at, s.expires_at`, subID, d, now).Scan(&before, &after)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil // revoked: nothing left to take back
	}
	if err != nil {
		return 0, fmt.Errorf("taking %s back from period %d: %w", d, subID, err)
	}
	return before.Sub(after), nil
}
