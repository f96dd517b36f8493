package shop

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
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

// StarsAnnounced reports whether the Stars payment of the order named by
// payload was confirmed to the user already (MarkStarsAnnounced): a
// successful_payment delivered again after its confirmation goes unanswered,
// one whose confirmation failed is confirmed on the retry.
func (s *Shop) StarsAnnounced(ctx context.Context, payload string) (bool, error) {
	id, ok := parseStarsPayload(payload)
	if !ok {
		return false, fmt.Errorf("%w: payload %q names no order", ErrCheckoutMismatch, payload)
	}
	var announced bool
	err := s.pool.QueryRow(ctx, `SELECT announced_at IS NOT NULL FROM invoices WHERE id = $1`, id).Scan(&announced)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("%w: no invoice %d", ErrCheckoutMismatch, id)
	}
	if err != nil {
		return false, fmt.Errorf("reading whether invoice %d was announced: %w", id, err)
	}
	return announced, nil
}

// MarkStarsAnnounced records that the Stars payment of the order named by
// payload was confirmed to the user.
func (s *Shop) MarkStarsAnnounced(ctx context.Context, payload string) error {
	id, ok := parseStarsPayload(payload)
	if !ok {
		return fmt.Errorf("%w: payload %q names no order", ErrCheckoutMismatch, payload)
	}
	return s.MarkAnnounced(ctx, id)
}
