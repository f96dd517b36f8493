package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/tracing"
)

// delivery describes msg, fetched by loop i, to a handler, starts its
// consumer span (a child of the publisher's, from the message's headers: a
// redelivery is another child of the same parent) and updates the lag gauges
// from its metadata. The logger and ctx it returns carry the span; false
// when msg has no metadata (it is then left to be redelivered).
func (c *Consumer) delivery(ctx context.Context, i int, msg jetstream.Msg) (Delivery, context.Context, trace.Span, zerolog.Logger, bool) {
	meta, err := msg.Metadata()
	if err != nil {
		// Cannot happen for a message fetched from a consumer; leave it to
		// be redelivered rather than guess.
		c.log.Error().Err(err).Str("subject", msg.Subject()).Msg("message without JetStream metadata")
		c.nak(msg, c.cfg.RetryBase, c.log)
		return Delivery{}, ctx, nil, c.log, false
	}
	c.setLag(i, meta.NumPending, c.ackPending[i].Load())
	if meta.NumDelivered > 1 {
		c.m.redeliveries.Inc()
	}
	d := Delivery{
		Subject:      msg.Subject(),
		Data:         msg.Data(),
		Header:       msg.Headers(),
		MsgID:        msg.Headers().Get(jetstream.MsgIDHeader),
		NumDelivered: meta.NumDelivered,
		StreamSeq:    meta.Sequence.Stream,
		Partition:    i,
		Published:    meta.Timestamp,
	}
	ctx, span := tracer().Start(extract(ctx, d.Header), "process "+d.Subject,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", d.Subject),
			attribute.String("messaging.consumer.group.name", c.cfg.Durable),
			attribute.String("messaging.message.id", d.MsgID),
			attribute.Int64("messaging.nats.stream_sequence", int64(d.StreamSeq)),
			attribute.Int64("messaging.nats.deliveries", int64(d.NumDelivered)),
		))
	d.Trace = span.SpanContext()
	log := c.log.With().Str("subject", d.Subject).Uint64("stream_seq", d.StreamSeq).
		Uint64("deliveries", d.NumDelivered).Str("msg_id", d.MsgID)
	if c.cfg.Mode == Partitioned {
		log = log.Int("partition", i)
	}
	log = log.Ctx(ctx)
	return d, ctx, span, log.Logger(), true
}

// process runs HandleFunc on one message of loop i and settles it.
func (c *Consumer) process(ctx context.Context, i int, msg jetstream.Msg) {
	d, ctx, span, log, ok := c.delivery(ctx, i, msg)
	if !ok {
		return
	}
	defer span.End()
	msg = c.held.add(msg) // until settled, by whichever path
	start := time.Now()
	returned, expired, err := c.call(ctx, d, log)
	obs.Observe(ctx, c.m.duration, time.Since(start).Seconds())
	c.beats[i].Beat()
	c.settle(ctx, msg, d, returned, expired, err, log)
}

// hold hands one message of loop i to HoldFunc, which settles it later;
// release runs once it is settled.
func (c *Consumer) hold(ctx context.Context, i int, msg jetstream.Msg, release func()) {
	d, ctx, span, log, ok := c.delivery(ctx, i, msg)
	if !ok {
		release()
		return
	}
	msg = c.held.add(msg)
	start := time.Now()
	var once sync.Once
	settle := func(err error) {
		once.Do(func() {
			obs.Observe(ctx, c.m.duration, time.Since(start).Seconds())
			c.settle(ctx, msg, d, true, false, err, log)
			span.End()
			release()
		})
	}
	defer func() {
		if p := recover(); p != nil {
			settle(c.panicked(p, log))
		}
	}()
	c.cfg.HoldFunc(d, settle)
}

// Handler states, for the race between its return and its deadline.
const (
	handlerRunning int32 = iota
	handlerReturned
	handlerAbandoned
)

// call runs the handler in its own goroutine under HandlerTimeout and waits
// for it, but not past the deadline: a handler that ignores its ctx is
// abandoned (returned=false) and left to finish on its own, counted in the
// abandoned gauge until it does; expired says the deadline had passed.
// Shutdown (ctx) does not cut the handler short; it keeps its own deadline.
func (c *Consumer) call(ctx context.Context, d Delivery, log zerolog.Logger) (returned, expired bool, err error) {
	if c.cfg.HandlerTimeout == NoDeadline {
		return true, false, c.safeHandle(context.WithoutCancel(ctx), d, log)
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.HandlerTimeout)
	defer cancel()
	var state atomic.Int32
	result := make(chan error, 1)
	go func() {
		err := c.safeHandle(hctx, d, log)
		if state.CompareAndSwap(handlerRunning, handlerReturned) {
			result <- err
			return
		}
		c.m.abandoned.Dec()
		log.Info().Err(err).Msg("abandoned handler returned")
	}()
	select {
	case err := <-result:
		return true, hctx.Err() != nil, err
	case <-hctx.Done():
	}
	if state.CompareAndSwap(handlerRunning, handlerAbandoned) {
		c.m.abandoned.Inc()
		return false, true, nil
	}
	// It returned just as the deadline passed: take its result.
	return true, true, <-result
}

// safeHandle runs HandleFunc and turns a panic into a poison message: a
// Permanent error carrying the stack, so the message is dead-lettered with
// it and the consumer lives on.
func (c *Consumer) safeHandle(ctx context.Context, d Delivery, log zerolog.Logger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = c.panicked(p, log)
		}
	}()
	return c.cfg.HandleFunc(ctx, d)
}

// panicked logs a recovered panic with its stack and returns the error that
// dead-letters its message.
func (c *Consumer) panicked(p any, log zerolog.Logger) error {
	stack := string(debug.Stack())
	log.Error().Str("event", EventHandlerPanic).Str("panic", fmt.Sprint(p)).Str("stack", stack).Msg("handler panicked")
	return Permanent(&panicError{value: fmt.Sprint(p), stack: stack})
}

// settle acknowledges, retries or dead-letters a message from its handler's
// result, and counts the outcome.
func (c *Consumer) settle(ctx context.Context, msg jetstream.Msg, d Delivery, returned, expired bool, herr error, log zerolog.Logger) {
	var outcome string
	v, after := verdictOf(herr)
	switch {
	case !returned || (herr != nil && expired):
		// A handler that failed because its deadline passed (it noticed its
		// ctx a moment before the consumer did) is a timeout too.
		if c.cfg.MaxDeliver == Unlimited {
			delay := c.retryDelay(d.NumDelivered)
			log.Error().Str("event", obs.EventHandlerTimeout).Dur("timeout", c.cfg.HandlerTimeout).Dur("retry_in", delay).
				Msg("handler did not return by its deadline; will retry")
			c.nak(msg, delay, log)
			c.unsettled(d.Partition)
			outcome = outcomeTimeout
			break
		}
		log.Error().Str("event", obs.EventHandlerTimeout).Dur("timeout", c.cfg.HandlerTimeout).
			Msg("handler did not return by its deadline; message given up")
		outcome = c.deadLetter(ctx, msg, d, DLQReasonTimeout,
			fmt.Errorf("handler did not return within %s", c.cfg.HandlerTimeout), outcomeTimeout, log)
	case herr == nil:
		c.ack(ctx, msg, log)
		outcome = outcomeOK
	case v == giveBack:
		log.Debug().Err(herr).Msg("message given back for redelivery")
		c.nak(msg, 0, log)
		outcome = outcomeRetry
	case v == giveUpNow:
		outcome = c.deadLetter(ctx, msg, d, DLQReasonPermanent, herr, outcomeDLQ, log)
	case v == retriesSpent || c.cfg.MaxDeliver != Unlimited && int(d.NumDelivered) >= c.cfg.MaxDeliver:
		// Nak would leave it unacknowledged for good: the server delivers
		// no more, whatever the gate says.
		outcome = c.deadLetter(ctx, msg, d, DLQReasonMaxDeliver, herr, outcomeDLQ, log)
	default:
		delay := max(c.retryDelay(d.NumDelivered), after)
		log.Warn().Err(herr).Dur("retry_in", delay).Msg("handler failed; will retry")
		c.nak(msg, delay, log)
		c.unsettled(d.Partition)
		outcome = outcomeRetry
		// A failure may be the first sign of an outage: look now, so the
		// loop pauses before its next fetch.
		_ = c.gate(ctx, true)
	}
	c.m.messages[outcome].Inc()
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("vpnbot.outcome", outcome))
	switch {
	case herr != nil && v != giveBack:
		span.RecordError(herr)
		span.SetStatus(codes.Error, herr.Error())
	case outcome == outcomeTimeout:
		span.SetStatus(codes.Error, "handler did not return by its deadline")
	}
}

// unsettled records that loop i left a message unacknowledged, waiting for
// its redelivery, so the next idle turns read the lag gauges afresh.
func (c *Consumer) unsettled(i int) {
	c.retrying[i].Store(true)
	if c.ackPending[i].Load() == 0 {
		c.setLag(i, c.pending[i].Load(), 1)
	}
}

// retryDelay is min(RetryBase*2^(n-1), RetryMax) for delivery n.
func (c *Consumer) retryDelay(n uint64) time.Duration {
	d := c.cfg.RetryBase
	for i := uint64(1); i < n && d < c.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.cfg.RetryMax)
}

// deadLetter copies the message to the DLQ and terminates it, returning
// outcome. If the copy cannot be stored the message is not terminated but
// retried later, so nothing is lost; that counts as a retry.
//
// The dead-lettering has a span of its own, a new root linked to the
// message's consumer span and always sampled (tracing.Keep): whatever the
// sampling ratio, every dead letter can be found in the traces. The copy
// keeps the original's traceparent, so a replay continues the original trace.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, d Delivery, reason string, cause error, outcome string, log zerolog.Logger) string {
	ctx, span := tracer().Start(ctx, "dead-letter "+c.cfg.Stream, trace.WithNewRoot(),
		trace.WithLinks(trace.LinkFromContext(ctx)),
		trace.WithAttributes(tracing.Keep,
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", DLQSubject(c.cfg.Stream)),
			attribute.String("messaging.consumer.group.name", c.cfg.Durable),
			attribute.String("vpnbot.dlq.reason", reason),
			attribute.String("vpnbot.dlq.error", cause.Error()),
		))
	defer span.End()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	dl := deadLetter(c.cfg.Stream, d, reason, cause, time.Now())
	id := dlqMsgID(c.cfg.Stream, d.StreamSeq)
	_, err := c.js.PublishMsg(sctx, dl, jetstream.WithMsgID(id))
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		// The DLQ stream is gone (deleted by hand?): declare it and try once more.
		if err = c.declareDLQ(sctx); err == nil {
			_, err = c.js.PublishMsg(sctx, dl, jetstream.WithMsgID(id))
		}
	}
	if err != nil {
		delay := c.retryDelay(d.NumDelivered)
		span.SetStatus(codes.Error, err.Error())
		log.Error().Str("event", EventDLQPublishFailed).Err(err).Str("reason", reason).Dur("retry_in", delay).
			Msg("cannot copy message to the DLQ; it stays in its stream")
		c.nak(msg, delay, log)
		return outcomeRetry
	}
	if err := msg.TermWithReason("dead-lettered: " + reason); err != nil {
		// A lost term means a redelivery, whose DLQ copy is a duplicate.
		log.Warn().Err(err).Msg("cannot terminate dead-lettered message")
	}
	log.Warn().Str("event", EventDeadLettered).Str("reason", reason).Str("error", cause.Error()).
		Msg("message copied to the DLQ")
	return outcome
}

func (c *Consumer) ack(ctx context.Context, msg jetstream.Msg, log zerolog.Logger) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	// Wait for the server's confirmation: with one message in flight per
	// partition a lost ack would stall the partition until AckWait.
	if err := msg.DoubleAck(sctx); err != nil {
		log.Warn().Err(err).Msg("ack failed; the message will be delivered again")
	}
}

func (c *Consumer) nak(msg jetstream.Msg, delay time.Duration, log zerolog.Logger) {
	if err := msg.NakWithDelay(delay); err != nil {
		log.Warn().Err(err).Msg("nak failed; the message will be delivered again after AckWait")
	}
}
