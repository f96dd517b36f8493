package bus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
)

// Delivery is one delivery of a message to a Handler. It carries no way to
// acknowledge: the Runner settles the message from the handler's result.
type Delivery struct {
	Subject      string
	Data         []byte
	Header       nats.Header
	MsgID        string // Nats-Msg-Id, if the publisher set one
	NumDelivered uint64 // 1 on the first delivery
	StreamSeq    uint64
	Partition    int
	// Published is when the stream stored the message: how long it waited
	// is Now minus Published, whatever its deliveries.
	Published time.Time
}

// Handler handles one message. Returning nil acknowledges it. An error makes
// it retried with a growing delay until the last allowed delivery, after
// which it is dead-lettered; a Permanent error dead-letters it at once. ctx
// ends at the per-message deadline.
type Handler func(ctx context.Context, d Delivery) error

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that no retry can fix (a malformed message, say):
// the Runner dead-letters the message at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was made by Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// retryAfterError asks for the next delivery no sooner than after.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as retryable no sooner than after — what an outside
// system asked for, such as Telegram's retry_after on a 429. The Runner waits
// the longer of that and its own backoff. RetryAfter(nil, d) is nil.
func RetryAfter(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return retryAfterError{err: err, after: after}
}

// retryAfter is the delay asked for by RetryAfter in err's chain, or 0.
func retryAfter(err error) time.Duration {
	var ra retryAfterError
	if errors.As(err, &ra) {
		return ra.after
	}
	return 0
}
