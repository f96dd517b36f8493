package watcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/retry"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

const (
	// ackWaitMargin is AckWait beyond the handler deadline, to settle the
	// message before the server redelivers it.
	ackWaitMargin = 5 * time.Second
	// settleTimeout bounds one ack or consumer declaration.
	settleTimeout = 5 * time.Second
	// maxAckPending lets replicas handle several payments at once: their
	// order does not matter, each invoice applies once.
	maxAckPending = 64
	// liveSlack is how long past HandlerTimeout + FetchWait the consume loop
	// may go without turning before Live fails.
	liveSlack = 30 * time.Second
)

// consumerState is what the health checks read of the consume loop.
type consumerState struct {
	beat     *obs.Heartbeat
	declared atomic.Bool
}

func newConsumerState(cfg Config) consumerState {
	return consumerState{beat: obs.NewHeartbeat(cfg.HandlerTimeout + cfg.FetchWait + liveSlack)}
}

// Consume reads payments.cryptopay with the durable consumer shared by all
// replicas until ctx is done, declaring it (again) whenever it is missing.
// It returns nil once ctx is done and the event in hand is settled.
func (w *Watcher) Consume(ctx context.Context) error {
	delay := retry.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	var cons jetstream.Consumer
	for {
		w.consumer.beat.Beat()
		if ctx.Err() != nil {
			return nil
		}
		if cons == nil {
			var err error
			if cons, err = w.declare(ctx); err != nil {
				w.log.Warn().Err(err).Msg("cannot declare the payments consumer; retrying")
				retry.Sleep(ctx, delay.Next())
				continue
			}
			delay.Reset()
			w.consumer.declared.Store(true)
		}
		msg, err := w.fetch(ctx, cons)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn().Err(err).Msg("fetching payment events failed; declaring the consumer again")
			}
			cons = nil
			w.consumer.declared.Store(false)
			retry.Sleep(ctx, delay.Next())
			continue
		}
		if msg != nil {
			w.process(ctx, msg)
		}
	}
}

// Live fails when the consume loop has not turned for HandlerTimeout +
// FetchWait + 30s.
func (w *Watcher) Live(ctx context.Context) error {
	if err := w.consumer.beat.Check(ctx); err != nil {
		return fmt.Errorf("payments consumer: %w", err)
	}
	return nil
}

// Ready fails while the payments consumer is not declared.
func (w *Watcher) Ready(context.Context) error {
	if !w.consumer.declared.Load() {
		return errors.New("payments consumer not declared")
	}
	return nil
}

func (w *Watcher) declare(ctx context.Context) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	cons, err := w.js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable:       w.cfg.Durable,
		Description:   "the payment-watcher's Crypto Pay webhook events",
		FilterSubject: bus.SubjectCryptoPayPayments,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.HandlerTimeout + ackWaitMargin,
		// No MaxDeliver: a payment is retried for as long as the database
		// is down, never dropped (the poller would find it anyway).
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
	})
	if err != nil {
		return nil, fmt.Errorf("declaring consumer %s on %s: %w", w.cfg.Durable, bus.StreamEvents, err)
	}
	return cons, nil
}

// fetch waits up to FetchWait for one event; nil when none came.
func (w *Watcher) fetch(ctx context.Context, cons jetstream.Consumer) (jetstream.Msg, error) {
	fctx, cancel := context.WithTimeout(ctx, w.cfg.FetchWait)
	defer cancel()
	batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
	if err != nil {
		return nil, fmt.Errorf("fetching: %w", err)
	}
	var msg jetstream.Msg
	for m := range batch.Messages() {
		msg = m
	}
	if msg != nil {
		return msg, nil
	}
	if err := batch.Error(); err != nil && fctx.Err() == nil {
		return nil, fmt.Errorf("fetching: %w", err)
	}
	return nil, nil
}

// process handles one event and settles it: ack when done (or when nothing
// can be done), nak with a growing delay when it failed for now.
func (w *Watcher) process(ctx context.Context, msg jetstream.Msg) {
	var delivered uint64 = 1
	seq := uint64(0)
	if meta, err := msg.Metadata(); err == nil {
		delivered, seq = meta.NumDelivered, meta.Sequence.Stream
	}
	log := w.log.With().Uint64("stream_seq", seq).Uint64("deliveries", delivered).
		Str("msg_id", msg.Headers().Get(jetstream.MsgIDHeader)).Logger()

	// Shutdown does not cut a payment short; it keeps its own deadline.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.HandlerTimeout)
	err := w.handle(hctx, msg.Data(), log)
	cancel()

	sctx, cancelSettle := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancelSettle()
	switch {
	case err == nil:
		w.m.events.WithLabelValues("ok").Inc()
		if err := msg.DoubleAck(sctx); err != nil {
			log.Warn().Err(err).Msg("ack failed; the event will be delivered again")
		}
	case errors.Is(err, cryptopay.ErrMalformedUpdate):
		w.m.events.WithLabelValues("malformed").Inc()
		log.Error().Str("event", EventMalformedUpdate).Err(err).Msg("payment event is not a Crypto Pay update; dropped")
		if err := msg.TermWithReason("malformed crypto pay update"); err != nil {
			log.Warn().Err(err).Msg("cannot terminate the malformed event")
		}
	default:
		w.m.events.WithLabelValues("retry").Inc()
		delay := w.retryDelay(delivered)
		log.Warn().Err(err).Dur("retry_in", delay).Msg("handling a payment event failed; will retry")
		if err := msg.NakWithDelay(delay); err != nil {
			log.Warn().Err(err).Msg("nak failed; the event will be delivered again after AckWait")
		}
	}
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
		w.m.payments.WithLabelValues(sourceWebhook, "unknown_invoice").Inc()
		log.Warn().Str("event", EventUnknownInvoice).Str("payload", upd.Invoice.Payload).
			Msg("crypto pay reports a payment of an invoice we have no order for; dropped")
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := w.apply(ctx, inv, sourceWebhook); err != nil {
		return err
	}
	// Also when the payment was applied already: this event may be the
	// redelivery of one whose handler died, or lost NATS, before announcing.
	return w.announce(ctx, inv.ID)
}

// retryDelay is RetryBase doubled per earlier delivery, at most RetryMax.
func (w *Watcher) retryDelay(delivered uint64) time.Duration {
	d := w.cfg.RetryBase
	for i := uint64(1); i < delivered && d < w.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, w.cfg.RetryMax)
}
