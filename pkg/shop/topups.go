package shop

import (
	"context"
	"errors"
	"fmt"
)

// ErrTopUpAmount: a top-up of an amount outside the limits of its currency.
var ErrTopUpAmount = errors.New("top-up amount out of limits")

// Limits bound an amount, in minor units, both ends included.
type Limits struct {
	Min, Max int64
}

// Defaults of Config's top-up limits.
var (
	DefaultTopUpUSD = Limits{Min: 100, Max: 100_000} // $1.00 to $1,000.00
	DefaultTopUpXTR = Limits{Min: 50, Max: 50_000}
)

func (l Limits) check(amount int64) error {
	if amount < l.Min || amount > l.Max {
		return fmt.Errorf("%w: %d, not within [%d, %d]", ErrTopUpAmount, amount, l.Min, l.Max)
	}
	return nil
}

// TopUpLimits are the limits of a top-up in currency.
func (s *Shop) TopUpLimits(currency string) (Limits, error) {
	switch currency {
	case CurrencyUSD:
		return s.cfg.TopUpUSD, nil
	case CurrencyXTR:
		return s.cfg.TopUpXTR, nil
	}
	return Limits{}, fmt.Errorf("%w %q", ErrUnknownCurrency, currency)
}

// CreateStarsTopUpOnce makes an order to add stars to the user's XTR
// balance, paid with Telegram Stars, once per requestID as CreateOrderOnce
// does for a plan: a retried press returns the order the first attempt
// made. An amount outside Config.TopUpXTR is ErrTopUpAmount.
func (s *Shop) CreateStarsTopUpOnce(ctx context.Context, requestID string, userID, stars int64) (Invoice, error) {
	if requestID == "" {
		return Invoice{}, fmt.Errorf("topping up user %d with Stars: no request id", userID)
	}
	if err := s.cfg.TopUpXTR.check(stars); err != nil {
		return Invoice{}, fmt.Errorf("topping up user %d with Stars: %w", userID, err)
	}
	now := s.now()
	inv, err := scanInvoice(s.pool.QueryRow(ctx, `
		INSERT INTO invoices (user_id, purpose, provider, price_stars, status, created_at, expires_at, request_id)
		VALUES ($1, 'topup', 'stars', $2, 'pending', $3, $4, $5)
		ON CONFLICT (request_id) WHERE request_id IS NOT NULL DO UPDATE SET request_id = EXCLUDED.request_id
		RETURNING `+invoiceColumns,
		userID, stars, now, now.Add(s.cfg.InvoiceTTL), requestID))
	if isForeignKeyViolation(err) {
		err = ErrUnknownUser
	}
	if err == nil && (inv.UserID != userID || inv.Purpose != PurposeTopUp || inv.Provider != ProviderStars || inv.Price != stars) {
		err = fmt.Errorf("%w: invoice %d is user %d's %s order of %d with %s",
			ErrRequestConflict, inv.ID, inv.UserID, inv.Purpose, inv.Price, inv.Provider)
	}
	if err != nil {
		return Invoice{}, fmt.Errorf("topping up user %d with %d stars (request %q): %w", userID, stars, requestID, err)
	}
	return inv, nil
}
