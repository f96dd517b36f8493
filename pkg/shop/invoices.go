package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Invoice is an order of one plan by one user, to pay with one provider. Its
// order fields (UserID, PlanID, Provider, prices, Duration) were copied from
// the plan when it was made and never change.
type Invoice struct {
	ID     int64
	UserID int64
	// Purpose is PurposePlan, an order of plan PlanID, or PurposeTopUp, of
	// an amount to add to the balance (no plan, no duration, and only the
	// price of its provider, which is what it credits).
	Purpose  string
	PlanID   string
	Provider string
	// PriceUSD is the Crypto Pay amount ("4.99"); PriceStars the XTR amount.
	PriceUSD   string
	PriceStars int
	// Price is what the invoice costs in its Currency, in minor units (cents,
	// stars): what a top-up credits.
	Price int64
	// Duration is what paying grants, as Plan.Duration.
	Duration time.Duration
	// Status is InvoicePending, InvoicePaid or InvoiceExpired.
	Status string
	// ExternalID is the provider's invoice id (Crypto Pay); PayURL where the
	// user pays it. Both are empty until AttachExternal.
	ExternalID string
	PayURL     string
	// ChargeID is the Telegram payment charge id that paid a Stars invoice.
	ChargeID string
	PaidAt   *time.Time
	// SubscriptionID is the period the payment extended or started; 0 until paid.
	SubscriptionID int64
	// RequestID is the request that made the order (CreateOrderOnce); empty
	// for an order of CreateOrder.
	RequestID string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// priceSQL is an invoice's price in minor units of its currency.
const priceSQL = `CASE provider WHEN 'stars' THEN price_stars ELSE (price_usd * 100)::bigint END`

const invoiceColumns = `id, user_id, purpose, COALESCE(plan_id, ''), provider, COALESCE(price_usd::text, ''),
	COALESCE(price_stars, 0), ` + priceSQL + `, COALESCE(duration, interval '0'), status,
	COALESCE(external_id, ''), COALESCE(pay_url, ''), COALESCE(charge_id, ''), paid_at,
	COALESCE(subscription_id, 0), COALESCE(request_id, ''), created_at, expires_at`

// scanInvoice reads invoiceColumns, and then, into extra, the columns a
// query selects after them.
func scanInvoice(row pgx.Row, extra ...any) (Invoice, error) {
	var inv Invoice
	dest := []any{&inv.ID, &inv.UserID, &inv.Purpose, &inv.PlanID, &inv.Provider, &inv.PriceUSD, &inv.PriceStars, &inv.Price, &inv.Duration,
		&inv.Status, &inv.ExternalID, &inv.PayURL, &inv.ChargeID, &inv.PaidAt, &inv.SubscriptionID,
		&inv.RequestID, &inv.CreatedAt, &inv.ExpiresAt}
	err := row.Scan(append(dest, extra...)...)
	if err != nil {
		return Invoice{}, err
	}
	inUTC(&inv.CreatedAt, &inv.ExpiresAt)
	inUTCOpt(&inv.PaidAt)
	return inv, nil
}

// Currency is the currency the invoice is paid in: USD with Crypto Pay,
// XTR with Stars.
func (inv Invoice) Currency() string {
	if inv.Provider == ProviderStars {
		return CurrencyXTR
	}
	return CurrencyUSD
}

func collectInvoices(rows pgx.Rows) ([]Invoice, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Invoice, error) { return scanInvoice(row) })
}

// CreateOrder makes a pending invoice of the plan for the user, payable with
// provider until Config.InvoiceTTL from now, at the plan's current price less
// the discount the user holds (see PlansFor), which the order records. The
// plan and the discount are read and copied by the same statement, so the
// order is what they were at that instant. A Crypto Pay order of a plan the user has one on
// offer of is ErrOrderOnOffer: users are shown theirs by CryptoPayOrder.
func (s *Shop) CreateOrder(ctx context.Context, userID int64, planID, provider string) (Invoice, error) {
	inv, err := s.createOrder(ctx, "", userID, planID, provider)
	if err != nil {
		return Invoice{}, fmt.Errorf("creating an order of plan %q for user %d: %w", planID, userID, err)
	}
	return inv, nil
}

// CreateOrderOnce is CreateOrder for a request that may come again, such as
// a button press whose update is retried after its reply failed: the first
// call with requestID makes the order, and every later or concurrent one
// returns that order as it is now, with the provider invoice attached to it
// if any, so the user is offered one order to pay, not two. requestID must
// be unique to the request (Telegram's callback query id); an order of
// requestID for another user, plan or provider is ErrRequestConflict.
func (s *Shop) CreateOrderOnce(ctx context.Context, requestID string, userID int64, planID, provider string) (Invoice, error) {
	if requestID == "" {
		return Invoice{}, fmt.Errorf("creating an order of plan %q for user %d: no request id", planID, userID)
	}
	inv, err := s.createOrder(ctx, requestID, userID, planID, provider)
	if err == nil && (inv.UserID != userID || inv.PlanID != planID || inv.Provider != provider) {
		err = fmt.Errorf("%w: invoice %d is user %d's order of plan %q with %s",
			ErrRequestConflict, inv.ID, inv.UserID, inv.PlanID, inv.Provider)
	}
	if err != nil {
		return Invoice{}, fmt.Errorf("creating the order of request %q (plan %q, user %d): %w", requestID, planID, userID, err)
	}
	return inv, nil
}

// createOrder inserts the order, or, when requestID ("" for none) made one
// already, returns that one. The no-op update on a conflict is what returns
// the row: unlike DO NOTHING, it waits for a concurrent insert of the same
// request to commit and then sees its row. It changes no order field, so the
// immutability trigger lets it through, paid or not.
func (s *Shop) createOrder(ctx context.Context, requestID string, userID int64, planID, provider string) (Invoice, error) {
	if provider != ProviderCryptoPay && provider != ProviderStars {
		return Invoice{}, fmt.Errorf("%w %q", ErrUnknownProvider, provider)
	}
	now := s.now()
	inv, err := scanInvoice(s.pool.QueryRow(ctx, `
		INSERT INTO invoices (user_id, plan_id, provider, price_usd, price_stars, duration, status, created_at, expires_at, request_id, promo_use_id)
		SELECT $1, id, $3, price_usd, price_stars, duration, 'pending', $4, $5, NULLIF($6, ''), promo_use_id
		FROM `+offerSQL+` WHERE id = $2
		ON CONFLICT (request_id) WHERE request_id IS NOT NULL DO UPDATE SET request_id = EXCLUDED.request_id
		RETURNING `+invoiceColumns,
		userID, planID, provider, now, now.Add(s.cfg.InvoiceTTL), requestID))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = ErrUnknownPlan
	case isForeignKeyViolation(err):
		err = ErrUnknownUser
	case isUniqueViolation(err, constraintOneOnOffer):
		err = ErrOrderOnOffer
	}
	return inv, err
}

// AttachExternal records the provider's invoice (made at the provider after
// CreateOrder, outside any transaction) on the order. Attaching the same one
// again is a no-op; another one is ErrExternalConflict.
func (s *Shop) AttachExternal(ctx context.Context, invoiceID int64, externalID, payURL string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE invoices SET external_id = $2, pay_url = $3
		WHERE id = $1 AND (external_id IS NULL OR external_id = $2)`,
		invoiceID, externalID, payURL)
	if isUniqueViolation(err, constraintExternalID) {
		err = ErrExternalConflict // another order has this provider invoice
	}
	if err != nil {
		return fmt.Errorf("attaching provider invoice %s to invoice %d: %w", externalID, invoiceID, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := s.Invoice(ctx, invoiceID); err != nil {
		return fmt.Errorf("attaching provider invoice %s: %w", externalID, err)
	}
	return fmt.Errorf("attaching provider invoice %s to invoice %d: %w", externalID, invoiceID, ErrExternalConflict)
}

// Invoice returns the invoice with the id, or ErrUnknownInvoice.
func (s *Shop) Invoice(ctx context.Context, id int64) (Invoice, error) {
	inv, err := invoiceByID(ctx, s.pool, id)
	if err != nil {
		return Invoice{}, fmt.Errorf("reading invoice %d: %w", id, err)
	}
	return inv, nil
}

func invoiceByID(ctx context.Context, q querier, id int64) (Invoice, error) {
	inv, err := scanInvoice(q.QueryRow(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Invoice{}, ErrUnknownInvoice
	}
	return inv, err
}

// InvoiceByExternal returns the invoice that the provider knows by
// externalID (a Crypto Pay invoice_id), or ErrUnknownInvoice.
func (s *Shop) InvoiceByExternal(ctx context.Context, provider, externalID string) (Invoice, error) {
	inv, err := scanInvoice(s.pool.QueryRow(ctx,
		`SELECT `+invoiceColumns+` FROM invoices WHERE provider = $1 AND external_id = $2`, provider, externalID))
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrUnknownInvoice
	}
	if err != nil {
		return Invoice{}, fmt.Errorf("reading the invoice of %s invoice %s: %w", provider, externalID, err)
	}
	return inv, nil
}

// PendingInvoices returns up to limit pending invoices of the provider, oldest
// first, for the poller to ask the provider about. It includes those past
// their ExpiresAt, which the poller expires (ExpireInvoice) once the provider
// confirms they were not paid, and those with no ExternalID (the provider
// invoice was never made), which can only expire.
func (s *Shop) PendingInvoices(ctx context.Context, provider string, limit int) ([]Invoice, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+invoiceColumns+` FROM invoices
		WHERE provider = $1 AND status = 'pending' ORDER BY created_at, id LIMIT $2`, provider, limit)
	if err != nil {
		return nil, fmt.Errorf("listing pending %s invoices: %w", provider, err)
	}
	invs, err := collectInvoices(rows)
	if err != nil {
		return nil, fmt.Errorf("listing pending %s invoices: %w", provider, err)
	}
	return invs, nil
}

// ExpireInvoice marks a pending invoice expired; expired is false when it was
// not pending (paid, or expired already). An expired invoice that is paid
// anyway is still applied (see ApplyPayment).
func (s *Shop) ExpireInvoice(ctx context.Context, invoiceID int64) (expired bool, err error) {
	tag, err := s.pool.Exec(ctx, `UPDATE invoices SET status = 'expired' WHERE id = $1 AND status = 'pending'`, invoiceID)
	if err != nil {
		return false, fmt.Errorf("expiring invoice %d: %w", invoiceID, err)
	}
	return tag.RowsAffected() == 1, nil
}
