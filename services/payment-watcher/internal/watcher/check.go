package watcher

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

const (
	// checkTimeout bounds one check: the user who pressed "I paid" waits
	// for it, and the poll comes soon after anyway.
	checkTimeout = 8 * time.Second
	// maxChecks bounds the checks in flight on one replica; more wait in
	// the subscription.
	maxChecks = 16
)

// Check checks the Crypto Pay order invoiceID with Crypto Pay now, the way
// a poll checks each pending order, and returns its status once checked
// (events.CheckPaid, CheckPending, CheckExpired): a paid one is applied and
// announced as a poll would (once, whoever else reports it), an expired one
// expired. An order already settled is answered from the database.
func (w *Watcher) Check(ctx context.Context, invoiceID int64) (string, error) {
	inv, err := w.shop.Invoice(ctx, invoiceID)
	if err != nil {
		return "", err
	}
	if inv.Provider != shop.ProviderCryptoPay {
		return "", fmt.Errorf("checking invoice %d: it is paid with %s, not Crypto Pay", invoiceID, inv.Provider)
	}
	if inv.Status != shop.InvoicePending {
		return inv.Status, nil
	}
	external, err := strconv.ParseInt(inv.ExternalID, 10, 64)
	if inv.ExternalID == "" || err != nil {
		return events.CheckPending, nil // never reached Crypto Pay: nothing can pay it
	}
	remote, err := w.invoices.GetInvoices(ctx, []int64{external})
	if err != nil {
		return "", fmt.Errorf("checking invoice %d with crypto pay: %w", invoiceID, err)
	}
	for _, r := range remote {
		if r.InvoiceID != external || !ofOrder(r, inv) {
			continue
		}
		switch r.Status {
		case cryptopay.StatusPaid:
			if _, err := w.apply(ctx, inv, sourceCheck); err != nil {
				return "", err
			}
			if err := w.announce(ctx, inv.ID); err != nil {
				return "", err
			}
			return events.CheckPaid, nil
		case cryptopay.StatusExpired:
			if _, err := w.expire(ctx, inv, expiredAtProvider); err != nil {
				return "", err
			}
			return events.CheckExpired, nil
		}
	}
	return events.CheckPending, nil
}

// ServeChecks answers the bot-handler's check requests
// (events.SubjectPaymentCheck) on nc, in the replicas' queue group, until
// the subscription is drained with the connection.
func (w *Watcher) ServeChecks(nc *nats.Conn) (*nats.Subscription, error) {
	slots := make(chan struct{}, maxChecks)
	sub, err := nc.QueueSubscribe(events.SubjectPaymentCheck, events.PaymentCheckQueue, func(m *nats.Msg) {
		slots <- struct{}{}
		go func() {
			defer func() { <-slots }()
			w.answerCheck(m)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to payment checks: %w", err)
	}
	return sub, nil
}

// answerCheck runs the check m asks for and replies with its outcome.
func (w *Watcher) answerCheck(m *nats.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	var reply events.PaymentCheckReply
	id, err := events.ParsePaymentCheck(m.Data)
	if err == nil {
		reply.Status, err = w.Check(ctx, id)
	}
	if err != nil {
		reply.Error = err.Error()
		w.log.Warn().Ctx(ctx).Err(err).Int64("invoice_id", id).Msg("payment check failed; the poll checks the order again")
	}
	data, err := json.Marshal(reply)
	if err == nil {
		err = m.Respond(data)
	}
	if err != nil {
		w.log.Warn().Ctx(ctx).Err(err).Int64("invoice_id", id).Msg("answering a payment check failed")
	}
}
