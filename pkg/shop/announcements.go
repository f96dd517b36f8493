package shop

import (
	"context"
	"fmt"
)

// UnannouncedPayments returns up to limit paid invoices of the provider whose
// payment was never marked announced (MarkAnnounced), oldest payment first:
// whoever applied them died, or lost the broker, before telling the user.
func (s *Shop) UnannouncedPayments(ctx context.Context, provider string, limit int) ([]Invoice, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+invoiceColumns+` FROM invoices
		WHERE provider = $1 AND status = 'paid' AND announced_at IS NULL ORDER BY paid_at, id LIMIT $2`, provider, limit)
	if err != nil {
		return nil, fmt.Errorf("listing unannounced %s payments: %w", provider, err)
	}
	invs, err := collectInvoices(rows)
	if err != nil {
		return nil, fmt.Errorf("listing unannounced %s payments: %w", provider, err)
	}
	return invs, nil
}

// MarkAnnounced records that the payment of the invoice was announced, so
// UnannouncedPayments no longer returns it. Marking it again, or marking an
// invoice that is not paid, changes nothing.
func (s *Shop) MarkAnnounced(ctx context.Context, invoiceID int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE invoices SET announced_at = $2
		WHERE id = $1 AND status = 'paid' AND announced_at IS NULL`, invoiceID, s.now())
	if err != nil {
		return fmt.Errorf("marking the payment of invoice %d announced: %w", invoiceID, err)
	}
	return nil
}
