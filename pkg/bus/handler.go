package bus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
)

// Delivery is one delivery of a message to a handler. It carries no way to
// acknowledge: the Consumer settles the message from the handler's result.
type Delivery struct {
	Subject string
	Data    []byte
	// Header is the message's headers; publishers put there what they
	// already know of the message, so handlers need not decode it twice.
	Header       nats.Header
	MsgID        string // Nats-Msg-Id, if the publisher set one
	NumDelivered uint64 // 1 on the first delivery
	StreamSeq    uint64
	// Partition is the partition the message was read from (Partitioned
	// mode; 0 otherwise).
	Partition int
	// Published is when the stream stored the message: how long it waited
	// is now minus Published, whatever its deliveries.
	Published time.Time
	// Trace is the delivery's consumer span (invalid with tracing off). A
	// Handler's ctx holds it already; a HoldFunc, which has no ctx, starts
	// the spans of its later work under it with trace.ContextWithSpanContext.
	Trace trace.SpanContext
}

// Handler handles one delivery. Returning nil acknowledges the message. An
// error makes it retried with a growing delay until the last allowed
// delivery, after which it is dead-lettered; Permanent and Exhausted errors
// dead-letter it at once, Release gives it back at once, and RetryAfter asks
// for a longer delay. A panic dead-letters the message with its stack. ctx
// ends at the per-message deadline.
type Handler func(ctx context.Context, d Delivery) error

// HoldFunc takes a delivery and settles it later by calling settle, once,
// with what a Handler would have returned for it. A Shared consumer calls it
// in stream order on its fetch loop, so it must not block; the delivery is
// kept in progress until it is settled, and the consumer's Run returns only
// once everything it handed over is settled. The sender holds commands this
// way while their chat's turn comes.
type HoldFunc func(d Delivery, settle func(err error))

// verdict is what a marked error asks of the consumer.
type verdict int

const (
	retryLater    verdict = iota // the default: nak with the growing delay
	giveUpNow                    // Permanent: dead-letter now
	retriesSpent                 // Exhausted: dead-letter now, as past MaxDeliver
	giveBack                     // Release: nak without a delay
	retryNoSooner                // RetryAfter: nak with at least the delay asked
)

// markedError is an error with the verdict its handler asks for.
type markedError struct {
	err     error
	verdict verdict
	after   time.Duration // with retryNoSooner
}

func (e markedError) Error() string { return e.err.Error() }
func (e markedError) Unwrap() error { return e.err }

func mark(err error, v verdict, after time.Duration) error {
	if err == nil {
		return nil
	}
	return markedError{err: err, verdict: v, after: after}
}

// verdictOf is the verdict of the outermost marked error in err's chain.
func verdictOf(err error) (verdict, time.Duration) {
	if m, ok := errors.AsType[markedError](err); ok {
		return m.verdict, m.after
	}
	return retryLater, 0
}

// Permanent marks err as one that no retry can fix (a malformed message, say):
// the message is dead-lettered at once. Permanent(nil) is nil.
func Permanent(err error) error { return mark(err, giveUpNow, 0) }

// Exhausted marks err as the last of a handler's own retries (the sender
// retries a command in its chat's place rather than by redelivery): the
// message is dead-lettered at once, as one past MaxDeliver would be.
// Exhausted(nil) is nil.
func Exhausted(err error) error { return mark(err, retriesSpent, 0) }

// Release gives the message back for redelivery at once, without a delay:
// the handler did not fail, it stopped (a sender that lost its leadership
// gives back the commands it held). Release(nil) is nil.
func Release(err error) error { return mark(err, giveBack, 0) }

// RetryAfter marks err as retryable no sooner than after — what an outside
// system asked for, such as Telegram's retry_after on a 429. The consumer
// waits the longer of that and its own backoff. RetryAfter(nil, d) is nil.
func RetryAfter(err error, after time.Duration) error { return mark(err, retryNoSooner, after) }

// panicError is a handler's panic, with the stack it was raised on.
type panicError struct {
	value string
	stack string
}

func (e *panicError) Error() string { return "handler panicked: " + e.value }
