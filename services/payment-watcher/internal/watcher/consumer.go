package watcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// maxAckPending lets replicas handle several payments at once: their order
// does not matter, each invoice applies once.
const maxAckPending = 64

// newConsumer is the consumer of payments.cryptopay the replicas share. A
// payment event is never given up for failing or timing out (MaxDeliver
// Unlimited): it is retried for as long as the database is down, and the
// poller would find the payment anyway. Only an event that is not a Crypto
// Pay update is dead-lettered.
func (w *Watcher) newConsumer(reg prometheus.Registerer) (*bus.Consumer, error) {
	return bus.NewConsumer(w.js, bus.ConsumerConfig{
		Stream:         events.Stream,
		Subject:        events.SubjectCryptoPayPayments,
		Durable:        w.cfg.Durable,
		Description:    "the payment-watcher's Crypto Pay webhook events",
		Mode:           bus.Shared,
		MaxAckPending:  maxAckPending,
		HandleFunc:     w.handleEvent,
		HandlerTimeout: w.cfg.HandlerTimeout,
		MaxDeliver:     bus.Unlimited,
		RetryBase:      w.cfg.RetryBase,
		RetryMax:       w.cfg.RetryMax,
		FetchWait:      w.cfg.FetchWait,
	}, w.log, reg)
}

// Consumer is the consumer of the payment events, to run beside the poller.
func (w *Watcher) Consumer() *bus.Consumer { return w.consumer }

// handleEvent handles one payments.cryptopay event: the consumer
// acknowledges it once the payment is applied and announced, and retries it
// when that failed for now.
func (w *Watcher) handleEvent(ctx context.Context, d bus.Delivery) error {
	log := w.log.With().Uint64("stream_seq", d.StreamSeq).Uint64("deliveries", d.NumDelivered).Str("msg_id", d.MsgID).Ctx(ctx).Logger()
	err := w.handle(ctx, d.Data, log)
	if errors.Is(err, cryptopay.ErrMalformedUpdate) {
		log.Error().Str("event", EventMalformedUpdate).Err(err).Msg("payment event is not a Crypto Pay update; dead-lettered")
		return bus.Permanent(fmt.Errorf("payment event: %w", err))
	}
	return err
}

// handle applies and announces the payment a webhook body reports; the event
// is acknowledged only after both.
func (w *Watcher) handle(ctx context.Context, body []byte, log zerolog.Logger) error {
	upd, err := cryptopay.ParseUpdate(body)
	if err != nil {
		return err
	}
	log = log.With().Int64("update_id", upd.UpdateID).Int64("external_id", upd.Invoice.InvoiceID).Logger()
	if upd.UpdateType != cryptopay.UpdateInvoicePaid || upd.Invoice.Status != cryptopay.StatusPaid {
		log.Info().Str("update_type", upd.UpdateType).Str("status", upd.Invoice.Status).
			Msg("crypto pay update is not a payment; ignored")
		return nil
	}
	inv, err := w.shop.InvoiceByExternal(ctx, shop.ProviderCryptoPay, strconv.FormatInt(upd.Invoice.InvoiceID, 10))
	if errors.Is(err, shop.ErrUnknownInvoice) {
		w.unknownPayment(upd.Invoice, sourceWebhook, unknownNoOrder, log)
		return nil
	}
	if err != nil {
		return err
	}
	if !ofOrder(upd.Invoice, inv) {
		w.unknownPayment(upd.Invoice, sourceWebhook, unknownOtherOrder, log.With().Int64("invoice_id", inv.ID).Logger())
		return nil
	}
	if _, err := w.apply(ctx, inv, sourceWebhook); err != nil {
		return err
	}
	// Also when the payment was applied already: this event may be the
	// redelivery of one whose handler died, or lost NATS, before announcing.
	return w.announce(ctx, inv.ID)
}
