package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vpnbot/vpnbot/pkg/retry"
)

// ErrExternal wraps the failure of a CreateExternalFunc: the provider could
// not make the invoice, and the order has nothing to pay yet.
var ErrExternal = errors.New("the payment provider did not make the invoice")

// CreateExternalFunc makes the provider's invoice of an order (Crypto Pay's
// createInvoice), with no transaction open, payable for expiresIn (until the
// order's ExpiresAt), and returns the provider's id of it and where the
// user pays it.
type CreateExternalFunc func(ctx context.Context, inv Invoice, expiresIn time.Duration) (externalID, payURL string, err error)

const (
	// externalWaitMin and externalWaitMax shape the waits of a request for
	// the Crypto Pay invoice another request is making.
	externalWaitMin = 50 * time.Millisecond
	externalWaitMax = time.Second
	// externalWaitMargin is what a waiting request leaves of its deadline
	// to tell its user.
	externalWaitMargin = time.Second
	// releaseTimeout bounds giving back a claim, which happens also when the
	// request's context has ended (often why the provider call failed).
	releaseTimeout = 5 * time.Second
)

// CryptoPayOrder is the order a user is shown when they choose to pay plan
// with Crypto Pay, with its Crypto Pay invoice attached: the same order and
// the same link for every request while the order may still be offered,
// however many replicas or redeliveries ask at once.
//
// An order is offered for the first half of its Config.InvoiceTTL (so that
// a link given out can be paid for at least half the TTL), while pending:
// once paid, expired, or closer than that to its expiry, the next request
// makes a new one and the old one is superseded. (Paid at Crypto Pay but not
// yet applied here, an order is still pending, and shown: its page says it
// is paid, and "Payment received" follows as soon as the webhook or the
// payment-watcher's poll reports it.) A superseded order stays
// pending for the payment-watcher to settle with Crypto Pay: paid on its old
// link in its last minutes, it is still applied. The database holds one
// order on offer per user and plan (invoices_one_pending_cryptopay), and
// requests racing to make it insert one.
//
// The order's Crypto Pay invoice is made once, by create, by the request
// that claims it (external_claimed_at, with its database session); a
// request that finds it claimed waits for its link, or takes the claim
// over when its session is gone or it is older than Config.ExternalClaimTTL.
// An error of create is returned wrapped in ErrExternal, and the claim is
// given back, so that the next request tries again; so is a wait that
// would run into ctx's deadline (Crypto Pay is slow to the other request).
func (s *Shop) CryptoPayOrder(ctx context.Context, userID int64, planID string, create CreateExternalFunc) (Invoice, error) {
	inv, err := s.cryptoPayOrder(ctx, func(ctx context.Context) (Invoice, error) {
		return s.offeredCryptoPayOrder(ctx, userID, planID)
	}, create)
	if err != nil {
		return Invoice{}, fmt.Errorf("ordering plan %q with Crypto Pay for user %d: %w", planID, userID, err)
	}
	return inv, nil
}

// CryptoPayTopUp is CryptoPayOrder for a top-up of cents to the user's USD
// balance: one order on offer per user and amount
// (invoices_one_pending_cryptopay_topup), with one Crypto Pay invoice. An
// amount outside Config.TopUpUSD is ErrTopUpAmount.
func (s *Shop) CryptoPayTopUp(ctx context.Context, userID, cents int64, create CreateExternalFunc) (Invoice, error) {
	if err := s.cfg.TopUpUSD.check(cents); err != nil {
		return Invoice{}, fmt.Errorf("topping up user %d with Crypto Pay: %w", userID, err)
	}
	inv, err := s.cryptoPayOrder(ctx, func(ctx context.Context) (Invoice, error) {
		return s.offeredCryptoPayTopUp(ctx, userID, cents)
	}, create)
	if err != nil {
		return Invoice{}, fmt.Errorf("topping up user %d with $%s by Crypto Pay: %w", userID, FormatCents(cents), err)
	}
	return inv, nil
}

// cryptoPayOrder is the order offer returns, with its Crypto Pay invoice
// made (once, by the request that claims it) and attached.
func (s *Shop) cryptoPayOrder(ctx context.Context, offer func(context.Context) (Invoice, error), create CreateExternalFunc) (Invoice, error) {
	wait := retry.Backoff{Min: externalWaitMin, Max: externalWaitMax}
	for {
		inv, err := offer(ctx)
		if err != nil {
			return Invoice{}, err
		}
		if inv.PayURL != "" {
			return inv, nil
		}
		claim, claimed, err := s.claimExternal(ctx, inv.ID)
		if err != nil {
			return Invoice{}, err
		}
		if claimed {
			return s.makeExternal(ctx, inv, claim, create)
		}
		// Another request is making it: its link comes in a moment, unless
		// Crypto Pay is slow. The wait ends short of ctx's deadline, so
		// that the caller can still say why there is no link yet.
		pause := wait.Next()
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < pause+externalWaitMargin {
			return Invoice{}, fmt.Errorf("invoice %d: %w: another request is still making it", inv.ID, ErrExternal)
		}
		if !retry.Sleep(ctx, pause) {
			return Invoice{}, fmt.Errorf("waiting for the Crypto Pay invoice of invoice %d: %w", inv.ID, context.Cause(ctx))
		}
	}
}

// offeredCryptoPayOrder returns the user's Crypto Pay order of the plan on
// offer, or makes one. It supersedes, first, an order on offer that has less
// than half its TTL left, or that was made with another discount than the
// one the user holds now (none, or one entered since); then it inserts a new order, which conflicts with
// the one still on offer, if any, or with one a concurrent request has just
// inserted (waiting for it to commit): the no-op update on a conflict
// returns that order. Of requests racing over an order to supersede, the
// first locks it and the others, once it committed, find it superseded and
// conflict with its successor.
func (s *Shop) offeredCryptoPayOrder(ctx context.Context, userID int64, planID string) (Invoice, error) {
	now := s.now()
	var inv Invoice
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE invoices SET superseded_at = $3
			WHERE user_id = $1 AND plan_id = $2 AND provider = 'cryptopay' AND status = 'pending'
			  AND superseded_at IS NULL AND (expires_at <= $4 OR promo_use_id IS DISTINCT FROM `+heldUseSQL+`)`,
			userID, planID, now, now.Add(s.cfg.InvoiceTTL/2))
		if err != nil {
			return fmt.Errorf("superseding the order whose time runs short: %w", err)
		}
		inv, err = scanInvoice(tx.QueryRow(ctx, `
			INSERT INTO invoices AS i (user_id, plan_id, provider, price_usd, price_stars, duration, status, created_at, expires_at, promo_use_id)
			SELECT $1, id, 'cryptopay', price_usd, price_stars, duration, 'pending', $3, $4, promo_use_id
			FROM `+offerSQL+` WHERE id = $2
			ON CONFLICT (user_id, plan_id) WHERE provider = 'cryptopay' AND status = 'pending' AND superseded_at IS NULL
			DO UPDATE SET superseded_at = i.superseded_at
			RETURNING `+invoiceColumns,
			userID, planID, now, now.Add(s.cfg.InvoiceTTL)))
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = ErrUnknownPlan
	case isForeignKeyViolation(err):
		err = ErrUnknownUser
	}
	return inv, err
}

// offeredCryptoPayTopUp is offeredCryptoPayOrder for a top-up of cents.
func (s *Shop) offeredCryptoPayTopUp(ctx context.Context, userID, cents int64) (Invoice, error) {
	now := s.now()
	var inv Invoice
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE invoices SET superseded_at = $3
			WHERE user_id = $1 AND purpose = 'topup' AND price_usd = $2::numeric / 100 AND provider = 'cryptopay'
			  AND status = 'pending' AND superseded_at IS NULL AND expires_at <= $4`,
			userID, cents, now, now.Add(s.cfg.InvoiceTTL/2))
		if err != nil {
			return fmt.Errorf("superseding the top-up whose time runs short: %w", err)
		}
		inv, err = scanInvoice(tx.QueryRow(ctx, `
			INSERT INTO invoices AS i (user_id, purpose, provider, price_usd, status, created_at, expires_at)
			VALUES ($1, 'topup', 'cryptopay', $2::numeric / 100, 'pending', $3, $4)
			ON CONFLICT (user_id, price_usd) WHERE purpose = 'topup' AND provider = 'cryptopay' AND status = 'pending' AND superseded_at IS NULL
			DO UPDATE SET superseded_at = i.superseded_at
			RETURNING `+invoiceColumns,
			userID, cents, now, now.Add(s.cfg.InvoiceTTL)))
		return err
	})
	if isForeignKeyViolation(err) {
		err = ErrUnknownUser
	}
	return inv, err
}

// externalClaim is a request's claim to make an order's provider invoice:
// when, and by which database session.
type externalClaim struct {
	at  time.Time
	pid int32
}

// claimExternal claims the making of the provider invoice of the pending
// order invoiceID, unless another request holds the claim: one made at or
// after the oldest claim still held, by a session still connected.
func (s *Shop) claimExternal(ctx context.Context, invoiceID int64) (externalClaim, bool, error) {
	now := s.now()
	c := externalClaim{at: now}
	err := s.pool.QueryRow(ctx, `
		UPDATE invoices SET external_claimed_at = $2, external_claim_pid = pg_backend_pid()
		WHERE id = $1 AND status = 'pending' AND external_id IS NULL
		  AND (external_claimed_at IS NULL OR external_claimed_at < $3
		       OR external_claim_pid <> ALL(ARRAY(SELECT pid FROM pg_stat_activity)))
		RETURNING external_claim_pid`, invoiceID, now, now.Add(-s.cfg.ExternalClaimTTL)).Scan(&c.pid)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return externalClaim{}, false, nil
	case err != nil:
		return externalClaim{}, false, fmt.Errorf("claiming the making of invoice %d's provider invoice: %w", invoiceID, err)
	}
	return c, true, nil
}

// makeExternal makes the provider invoice of inv under claim and attaches
// it. Should another request have attached one first (it took the claim
// over), the order keeps that one, which is returned: the user is shown one
// link, and the one made here expires unpaid at the provider.
func (s *Shop) makeExternal(ctx context.Context, inv Invoice, claim externalClaim, create CreateExternalFunc) (Invoice, error) {
	externalID, payURL, err := create(ctx, inv, inv.ExpiresAt.Sub(claim.at))
	if err != nil {
		err = fmt.Errorf("making the provider invoice of invoice %d: %w: %w", inv.ID, ErrExternal, err)
		// Given back even when ctx has ended, so that the next request
		// tries again at once rather than after the claim's lifetime.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		_, rerr := s.pool.Exec(rctx, `
			UPDATE invoices SET external_claimed_at = NULL, external_claim_pid = NULL
			WHERE id = $1 AND external_claimed_at = $2 AND external_claim_pid = $3`, inv.ID, claim.at, claim.pid)
		if rerr != nil {
			err = errors.Join(err, fmt.Errorf("giving back the claim on invoice %d: %w", inv.ID, rerr))
		}
		return Invoice{}, err
	}
	err = s.AttachExternal(ctx, inv.ID, externalID, payURL)
	if errors.Is(err, ErrExternalConflict) {
		if attached, rerr := s.Invoice(ctx, inv.ID); rerr == nil && attached.PayURL != "" {
			return attached, nil
		}
	}
	if err != nil {
		return Invoice{}, err
	}
	inv.ExternalID, inv.PayURL = externalID, payURL
	return inv, nil
}
