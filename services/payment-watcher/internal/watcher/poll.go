package watcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// Reasons an invoice expires, in INVOICE_EXPIRED and metrics.
const (
	expiredAtProvider = "expired_at_provider" // Crypto Pay says expired
	deletedAtProvider = "deleted_at_provider" // Crypto Pay no longer lists it, and its TTL passed
	neverCreated      = "never_created"       // no Crypto Pay invoice was ever attached, and its TTL passed
)

// Poll is the polling fallback, one worker iteration: it asks Crypto Pay
// about our pending orders, applies the paid ones and expires the dead ones;
// then it announces every payment applied and not yet announced: the ones
// it just applied, and those whose announcement was lost because whoever
// applied them died, or lost NATS, before announcing. Crypto Pay being down
// fails the iteration and applies nothing; the next one asks again.
func (w *Watcher) Poll(ctx context.Context) (worker.Result, error) {
	res := worker.Result{}
	appliedNow, errs := w.applyPaid(ctx, res)
	errs = append(errs, w.announceUnannounced(ctx, appliedNow, res)...)
	w.m.paidUnapplied.Set(float64(w.backlog.unapplied.Load() + w.backlog.unannounced.Load()))
	if len(errs) > 0 {
		res["errors"] = len(errs)
	}
	return res, errors.Join(errs...)
}

// applyPaid applies the pending orders Crypto Pay reports paid and expires
// the dead ones. It returns the ids of the invoices it applied, and counts
// in backlog.unapplied the paid ones it could not apply once Crypto Pay has
// answered.
func (w *Watcher) applyPaid(ctx context.Context, res worker.Result) (appliedNow map[int64]bool, errs []error) {
	pending, err := w.shop.PendingInvoices(ctx, shop.ProviderCryptoPay, w.cfg.PollLimit)
	if err != nil {
		return nil, []error{err}
	}
	res["pending"] = len(pending)
	now := w.cfg.NowFunc()
	byExternal := make(map[int64]shop.Invoice, len(pending))
	var ids []int64
	for _, inv := range pending {
		id, err := strconv.ParseInt(inv.ExternalID, 10, 64)
		if inv.ExternalID == "" || err != nil {
			// The order never reached Crypto Pay (the bot-handler failed
			// between ordering and createInvoice): nothing can pay it.
			if now.After(inv.ExpiresAt) {
				if ok, err := w.expire(ctx, inv, neverCreated); err != nil {
					errs = append(errs, err)
				} else if ok {
					res["expired"]++
				}
			}
			continue
		}
		byExternal[id] = inv
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		w.backlog.unapplied.Store(0)
		return nil, errs
	}

	remote, err := w.invoices.GetInvoices(ctx, ids)
	if err != nil {
		return nil, append(errs, fmt.Errorf("polling crypto pay: %w", err))
	}
	res["checked"] = len(remote)
	listed := make(map[int64]bool, len(remote))
	appliedNow = make(map[int64]bool)
	unapplied := 0
	for _, r := range remote {
		inv, ok := byExternal[r.InvoiceID]
		if !ok || !ofOrder(r, inv) {
			// Not the invoice of one of our orders: our order's invoice is
			// not listed, and a payment of this one buys nothing.
			log := w.log.With().Int64("external_id", r.InvoiceID).Ctx(ctx).Logger()
			switch {
			case r.Status != cryptopay.StatusPaid:
			case ok:
				w.unknownPayment(r, sourcePoll, unknownOtherOrder, log.With().Int64("invoice_id", inv.ID).Logger())
			default:
				w.unknownPayment(r, sourcePoll, unknownNoOrder, log)
			}
			continue
		}
		listed[r.InvoiceID] = true
		switch r.Status {
		case cryptopay.StatusPaid:
			applied, err := w.apply(ctx, inv, sourcePoll)
			if err != nil {
				errs = append(errs, err)
				unapplied++
			}
			if applied {
				appliedNow[inv.ID] = true
				res["applied"]++
			}
		case cryptopay.StatusExpired:
			if ok, err := w.expire(ctx, inv, expiredAtProvider); err != nil {
				errs = append(errs, err)
			} else if ok {
				res["expired"]++
			}
		}
	}
	w.backlog.unapplied.Store(int64(unapplied))
	for id, inv := range byExternal {
		// Deleted at Crypto Pay: it cannot be paid there any more.
		if !listed[id] && now.After(inv.ExpiresAt) {
			if ok, err := w.expire(ctx, inv, deletedAtProvider); err != nil {
				errs = append(errs, err)
			} else if ok {
				res["expired"]++
			}
		}
	}
	return appliedNow, errs
}

// announceUnannounced announces the Crypto Pay payments applied and not yet
// announced, oldest first, and counts in backlog.unannounced those it could
// not. Those it did not apply itself (appliedNow) were left unannounced
// earlier, or are being announced by a webhook handler right now; either
// way announcing them again adds nothing.
func (w *Watcher) announceUnannounced(ctx context.Context, appliedNow map[int64]bool, res worker.Result) []error {
	paid, err := w.shop.UnannouncedPayments(ctx, shop.ProviderCryptoPay, w.cfg.PollLimit)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, inv := range paid {
		if err := w.announce(ctx, inv.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		res["announced"]++
		if !appliedNow[inv.ID] {
			w.log.Warn().Ctx(ctx).Str("event", EventPaymentAnnouncedLate).Int64("invoice_id", inv.ID).
				Str("external_id", inv.ExternalID).Int64("user_id", inv.UserID).Int64("subscription_id", inv.SubscriptionID).
				Time("paid_at", *inv.PaidAt).Msg("a payment applied earlier was never announced; announced now")
		}
	}
	w.backlog.unannounced.Store(int64(len(errs)))
	return errs
}
