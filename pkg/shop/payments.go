package shop

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ApplyPayment applies a paid invoice exactly once, whoever reports it and
// however often (webhook, poller, replicas, Telegram redelivering a
// successful_payment): the invoice turns paid by a conditional UPDATE, and in
// the same short transaction its ledger row is written ("payment:<id>", or
// "topup:<id>") and what it bought is given: the user's active period is
// extended by the invoice's own duration from GREATEST(now, expires_at), or
// a new period starts; a top-up adds its price to the balance; the discount
// the order was made with, if any, is spent. applied is
// false, and nothing changes, when the invoice was paid already; sub is then
// the period that payment went to. A top-up returns no period (ID 0).
//
// The payment of an invitee gives the referral rewards of Config.Referrals
// in the same transaction ("referral:<id>:inviter", "referral:<id>:invitee"),
// so they are given once per payment, as the payment is; sub includes what
// the invitee's own reward added.
//
// chargeID is the Telegram charge id of a Stars payment ("" for Crypto Pay).
// A charge id other than the one that paid the invoice, or one that paid
// another invoice, is ErrChargeConflict: that money bought nothing.
//
// An expired invoice that is paid anyway is applied: the provider took the
// money (Crypto Pay may report a payment after our poller expired the order,
// a Stars checkout may complete just after the TTL), and the order's price and
// plan were fixed when it was made, so honouring it is what the user paid for.
func (s *Shop) ApplyPayment(ctx context.Context, invoiceID int64, chargeID string) (sub Subscription, applied bool, err error) {
	now := s.now()
	var purpose string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var e Entry
		err := tx.QueryRow(ctx, `
			UPDATE invoices SET status = 'paid', paid_at = $2, charge_id = NULLIF($3, '')
			WHERE id = $1 AND status IN ('pending', 'expired')
			RETURNING user_id, purpose, CASE provider WHEN 'stars' THEN 'XTR' ELSE 'USD' END, `+priceSQL+`,
			          COALESCE(duration, interval '0'), COALESCE(plan_id, '')`,
			invoiceID, now, chargeID).Scan(&e.UserID, &purpose, &e.Currency, &e.Money, &e.Duration, &e.Ref)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // paid already, or unknown: told apart below
		}
		if isUniqueViolation(err, constraintChargeID) {
			return fmt.Errorf("charge %s: %w", chargeID, ErrChargeConflict)
		}
		if err != nil {
			return err
		}
		e.InvoiceID = invoiceID
		ref, err := lockReferral(ctx, tx, e.UserID, invoiceID)
		if err != nil {
			return err
		}
		if purpose == PurposeTopUp {
			e.OpKey, e.Kind, e.Amount = "topup:"+strconv.FormatInt(invoiceID, 10), LedgerTopUp, e.Money
			// The rewards come before the top-up's row, so that the
			// invitee's period is locked before their balance (lockReferral).
			if err := s.rewardReferral(ctx, tx, e, ref, now); err != nil {
				return err
			}
			if _, posted, err := appendEntry(ctx, tx, e, now); err != nil || !posted {
				return cmp.Or(err, errPostedBefore)
			}
			applied = true
			return nil
		}
		e.OpKey, e.Kind = "payment:"+strconv.FormatInt(invoiceID, 10), LedgerPayment
		e, err = postGrant(ctx, tx, e, KindPaid, now)
		if err != nil {
			return err
		}
		if err := s.rewardReferral(ctx, tx, e, ref, now); err != nil {
			return err
		}
		if err := spendOrderPromo(ctx, tx, invoiceID, e.OpKey, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invoices SET subscription_id = $2 WHERE id = $1`, invoiceID, e.SubscriptionID); err != nil {
			return err
		}
		sub, err = subscriptionByID(ctx, tx, e.SubscriptionID)
		applied = err == nil
		return err
	})
	if err != nil {
		return Subscription{}, false, fmt.Errorf("applying the payment of invoice %d: %w", invoiceID, err)
	}
	if applied {
		return sub, true, nil
	}
	inv, err := invoiceByID(ctx, s.pool, invoiceID)
	if err != nil {
		return Subscription{}, false, fmt.Errorf("applying the payment of invoice %d: %w", invoiceID, err)
	}
	if chargeID != "" && inv.ChargeID != chargeID {
		return Subscription{}, false, fmt.Errorf("applying charge %s to invoice %d, paid by charge %q: %w",
			chargeID, invoiceID, inv.ChargeID, ErrChargeConflict)
	}
	if inv.Purpose == PurposeTopUp {
		return Subscription{}, false, nil
	}
	sub, err = subscriptionByID(ctx, s.pool, inv.SubscriptionID)
	if err != nil {
		return Subscription{}, false, fmt.Errorf("reading the period paid by invoice %d: %w", invoiceID, err)
	}
	return sub, false, nil
}

// starsPayloadPrefix starts the invoice payload of a Stars order.
const starsPayloadPrefix = "order:"

// StarsCurrency is the currency of Telegram Stars payments.
const StarsCurrency = "XTR"

// StarsPayload is the invoice payload to send with a Stars invoice for the
// order, which Telegram hands back in pre_checkout_query and
// successful_payment.
func StarsPayload(invoiceID int64) string {
	return starsPayloadPrefix + strconv.FormatInt(invoiceID, 10)
}

func parseStarsPayload(payload string) (int64, bool) {
	rest, ok := strings.CutPrefix(payload, starsPayloadPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// ValidateCheckout decides a pre_checkout_query: it returns the order when
// payload names a pending, unexpired Stars invoice of this user and currency
// and total are its price in XTR, and ErrCheckoutMismatch (saying why)
// otherwise: also when the order was made with a discount that another
// order's payment spent since. Telegram takes the money only after a
// positive answer.
func (s *Shop) ValidateCheckout(ctx context.Context, userID int64, payload, currency string, total int) (Invoice, error) {
	inv, err := s.starsInvoice(ctx, userID, payload, total)
	if err != nil {
		return Invoice{}, fmt.Errorf("validating the checkout of user %d: %w", userID, err)
	}
	reason := ""
	switch {
	case currency != StarsCurrency:
		reason = fmt.Sprintf("currency %q, not %s", currency, StarsCurrency)
	case inv.Status != InvoicePending:
		reason = "the invoice is " + inv.Status
	case !s.now().Before(inv.ExpiresAt):
		reason = "the invoice expired at " + inv.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if reason == "" {
		spent, err := promoSpentElsewhere(ctx, s.pool, inv.ID)
		if err != nil {
			return Invoice{}, fmt.Errorf("validating the checkout of invoice %d: %w", inv.ID, err)
		}
		if spent {
			reason = "its discount went to another order"
		}
	}
	if reason != "" {
		return Invoice{}, fmt.Errorf("validating the checkout of invoice %d by user %d: %w: %s",
			inv.ID, userID, ErrCheckoutMismatch, reason)
	}
	return inv, nil
}

// ApplyStarsPayment applies a successful_payment: the order named by payload
// must be a Stars invoice of this user at this total; then it is ApplyPayment
// with the charge id, so a payment is applied once per charge and once per
// invoice.
func (s *Shop) ApplyStarsPayment(ctx context.Context, userID int64, payload, chargeID string, total int) (Subscription, bool, error) {
	if chargeID == "" {
		return Subscription{}, false, fmt.Errorf("applying a Stars payment of user %d: no charge id", userID)
	}
	inv, err := s.starsInvoice(ctx, userID, payload, total)
	if err != nil {
		return Subscription{}, false, fmt.Errorf("applying Stars charge %s of user %d: %w", chargeID, userID, err)
	}
	return s.ApplyPayment(ctx, inv.ID, chargeID)
}

// starsInvoice reads the invoice named by payload and checks the fields the
// database keeps immutable (owner, provider, price), so checking them before
// acting cannot race with a change.
func (s *Shop) starsInvoice(ctx context.Context, userID int64, payload string, total int) (Invoice, error) {
	id, ok := parseStarsPayload(payload)
	if !ok {
		return Invoice{}, fmt.Errorf("%w: payload %q names no order", ErrCheckoutMismatch, payload)
	}
	inv, err := invoiceByID(ctx, s.pool, id)
	if errors.Is(err, ErrUnknownInvoice) {
		return Invoice{}, fmt.Errorf("%w: no invoice %d", ErrCheckoutMismatch, id)
	}
	if err != nil {
		return Invoice{}, fmt.Errorf("reading invoice %d: %w", id, err)
	}
	reason := ""
	switch {
	case inv.UserID != userID:
		reason = fmt.Sprintf("the invoice is user %d's", inv.UserID)
	case inv.Provider != ProviderStars:
		reason = "the invoice is to pay with " + inv.Provider
	case total != inv.PriceStars:
		reason = fmt.Sprintf("total %d, the price is %d", total, inv.PriceStars)
	}
	if reason != "" {
		return Invoice{}, fmt.Errorf("invoice %d: %w: %s", id, ErrCheckoutMismatch, reason)
	}
	return inv, nil
}
