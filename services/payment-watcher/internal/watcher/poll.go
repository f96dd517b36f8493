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
// about our pending orders, applies the paid ones and expires the dead ones.
// Crypto Pay being down fails the iteration and changes nothing; the next
// one asks again.
func (w *Watcher) Poll(ctx context.Context) (worker.Result, error) {
	res := worker.Result{}
	pending, err := w.shop.PendingInvoices(ctx, shop.ProviderCryptoPay, w.cfg.PollLimit)
	if err != nil {
		return res, err
	}
	res["pending"] = len(pending)
	now := w.cfg.NowFunc()
	byExternal := make(map[int64]shop.Invoice, len(pending))
	var ids []int64
	var errs []error
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
		return res, errors.Join(errs...)
	}

	remote, err := w.invoices.GetInvoices(ctx, ids)
	if err != nil {
		return res, errors.Join(append(errs, fmt.Errorf("polling crypto pay: %w", err))...)
	}
	res["checked"] = len(remote)
	listed := make(map[int64]bool, len(remote))
	unapplied := 0
	for _, r := range remote {
		inv, ok := byExternal[r.InvoiceID]
		if !ok {
			continue // not one we asked about
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
	w.m.paidUnapplied.Set(float64(unapplied))
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
	if len(errs) > 0 {
		res["errors"] = len(errs)
	}
	return res, errors.Join(errs...)
}
