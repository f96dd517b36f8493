package shop

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// kindKeyDelivered is the notifications_sent kind under which activation
// records a period's key delivered to its user.
const kindKeyDelivered = "key"

// Order is an invoice with the steps it went through, for the user's "My
// payments": made (Invoice.CreatedAt), paid and applied (Invoice.PaidAt:
// the shop applies a payment as it learns of it), the user told, and the
// key of the period it paid for delivered.
type Order struct {
	Invoice Invoice
	// ToldAt is when the payment's receipt was handed to Telegram or the
	// sender; nil until then.
	ToldAt *time.Time
	// KeyAt is when the key of the period the order paid for was first
	// delivered: before PaidAt for a period that had its key already (an
	// extension), nil while none was. A top-up has none.
	KeyAt *time.Time
}

// Orders returns the user's latest orders, newest first, with their steps.
func (s *Shop) Orders(ctx context.Context, userID int64, limit int) ([]Order, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+invoiceColumns+`, announced_at,
			(SELECT min(n.sent_at) FROM notifications_sent n
			 WHERE n.subscription_id = invoices.subscription_id AND n.kind = $3)
		FROM invoices WHERE user_id = $1 ORDER BY id DESC LIMIT $2`, userID, limit, kindKeyDelivered)
	if err != nil {
		return nil, fmt.Errorf("reading the orders of user %d: %w", userID, err)
	}
	orders, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Order, error) {
		var o Order
		var err error
		o.Invoice, err = scanInvoice(row, &o.ToldAt, &o.KeyAt)
		inUTCOpt(&o.ToldAt, &o.KeyAt)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the orders of user %d: %w", userID, err)
	}
	return orders, nil
}
