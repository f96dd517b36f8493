package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpnbot/vpnbot/pkg/tracing"
)

// Headers a dead letter carries besides the original message's own.
const (
	HeaderDLQReason     = "Dlq-Reason"     // one of the DLQReason* values
	HeaderDLQError      = "Dlq-Error"      // what the handler said, or why it was given up
	HeaderDLQStream     = "Dlq-Stream"     // stream the message came from
	HeaderDLQSubject    = "Dlq-Subject"    // subject it was published to; ReplayDLQ publishes there
	HeaderDLQStreamSeq  = "Dlq-Stream-Seq" // its sequence in that stream
	HeaderDLQDeliveries = "Dlq-Deliveries" // how many times it was delivered
	HeaderDLQMsgID      = "Dlq-Msg-Id"     // its Nats-Msg-Id, if it had one
	HeaderDLQTime       = "Dlq-Time"       // when it was dead-lettered, RFC 3339 UTC
	// HeaderDLQStack is the stack of a handler that panicked on the
	// message, its lines joined by " | " (a header is one line).
	HeaderDLQStack = "Dlq-Stack"
)

// Why a message was dead-lettered (the Dlq-Reason header).
const (
	DLQReasonTimeout    = "timeout"     // the handler did not return by its deadline
	DLQReasonMaxDeliver = "max_deliver" // the handler failed on the last allowed delivery
	DLQReasonPermanent  = "permanent"   // the handler returned a Permanent error
)

const dlqHeaderPrefix = "Dlq-"

// DLQEntry is one dead letter, as an operator lists it.
type DLQEntry struct {
	Seq        uint64 // sequence in the DLQ stream; ReplayDLQ takes it
	Reason     string // a DLQReason* value
	Error      string
	Stream     string // original stream
	Subject    string // original subject
	MsgID      string // original Nats-Msg-Id
	Deliveries int
	Time       time.Time // when it was dead-lettered
	Stack      string    // the panicking handler's stack, if it panicked
	// TraceID is the trace of the original message (its traceparent), to
	// look up in the trace backend; "" when it was not traced.
	TraceID string
	Data    []byte
}

// stackSeparator stands for a line break of a stack in HeaderDLQStack.
const stackSeparator = " | "

// deadLetter builds the DLQ copy of a message: its body and own headers,
// plus the Dlq-* headers. The original's Nats-* headers are dropped: they are
// instructions to the server (the original Nats-Msg-Id would make the copy a
// duplicate of the original on replay); Dlq-Msg-Id keeps the id.
func deadLetter(stream string, d Delivery, reason string, cause error, now time.Time) *nats.Msg {
	h := withoutHeaders(d.Header, "Nats-")
	h.Set(HeaderDLQReason, reason)
	h.Set(HeaderDLQError, strings.ReplaceAll(cause.Error(), "\n", " "))
	if p, ok := errors.AsType[*panicError](cause); ok {
		h.Set(HeaderDLQStack, strings.ReplaceAll(strings.TrimSpace(p.stack), "\n", stackSeparator))
	}
	h.Set(HeaderDLQStream, stream)
	h.Set(HeaderDLQSubject, d.Subject)
	h.Set(HeaderDLQStreamSeq, strconv.FormatUint(d.StreamSeq, 10))
	h.Set(HeaderDLQDeliveries, strconv.FormatUint(d.NumDelivered, 10))
	h.Set(HeaderDLQMsgID, d.MsgID)
	h.Set(HeaderDLQTime, now.UTC().Format(time.RFC3339Nano))
	return &nats.Msg{Subject: DLQSubject(stream), Header: h, Data: d.Data}
}

// dlqMsgID makes a retried dead-lettering of the same message a duplicate.
func dlqMsgID(stream string, seq uint64) string {
	return stream + ":" + strconv.FormatUint(seq, 10)
}

// withoutHeaders copies h without the headers whose names start with any of
// the prefixes.
func withoutHeaders(h nats.Header, prefixes ...string) nats.Header {
	out := nats.Header{}
	for k, v := range h {
		drop := false
		for _, p := range prefixes {
			drop = drop || strings.HasPrefix(k, p)
		}
		if !drop {
			out[k] = append([]string(nil), v...)
		}
	}
	return out
}

// ListDLQ returns up to limit dead letters of stream (all streams when
// stream is empty), oldest first. limit <= 0 means all. No DLQ stream means
// no dead letters.
func ListDLQ(ctx context.Context, js jetstream.JetStream, stream string, limit int) ([]DLQEntry, error) {
	s, err := js.Stream(ctx, StreamDLQ)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil // nothing was ever dead-lettered
	}
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", StreamDLQ, err)
	}
	subject := dlqPrefix + ".>"
	if stream != "" {
		subject = DLQSubject(stream)
	}
	var out []DLQEntry
	for seq := uint64(1); limit <= 0 || len(out) < limit; {
		raw, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s at or after sequence %d: %w", subject, seq, err)
		}
		out = append(out, dlqEntry(raw))
		seq = raw.Sequence + 1
	}
	return out, nil
}

func dlqEntry(raw *jetstream.RawStreamMsg) DLQEntry {
	h := raw.Header
	e := DLQEntry{
		Seq:     raw.Sequence,
		Reason:  h.Get(HeaderDLQReason),
		Error:   h.Get(HeaderDLQError),
		Stream:  h.Get(HeaderDLQStream),
		Subject: h.Get(HeaderDLQSubject),
		MsgID:   h.Get(HeaderDLQMsgID),
		Stack:   strings.ReplaceAll(h.Get(HeaderDLQStack), stackSeparator, "\n"),
		Time:    raw.Time,
		TraceID: TraceID(h),
		Data:    raw.Data,
	}
	// Malformed numbers stay zero: a listing should show what is there
	// rather than fail on one odd entry.
	e.Deliveries, _ = strconv.Atoi(h.Get(HeaderDLQDeliveries))
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderDLQTime)); err == nil {
		e.Time = t
	}
	return e
}

// GetDLQ returns dead letter seq, with its stack and body, for an operator
// to read whole.
func GetDLQ(ctx context.Context, js jetstream.JetStream, seq uint64) (DLQEntry, error) {
	s, err := js.Stream(ctx, StreamDLQ)
	if err != nil {
		return DLQEntry{}, fmt.Errorf("opening stream %s: %w", StreamDLQ, err)
	}
	raw, err := s.GetMsg(ctx, seq)
	if err != nil {
		return DLQEntry{}, fmt.Errorf("reading dead letter %d: %w", seq, err)
	}
	return dlqEntry(raw), nil
}

// ReplayDLQ publishes dead letter seq again to its original subject, with its
// original headers and Nats-Msg-Id "<original id>:replay:<seq>" (new to the
// original stream's duplicate window, yet the same on a retried replay), then
// deletes it from the DLQ. The replay is traced as a child of the dead
// letter's original trace (its traceparent), always sampled, so the replayed
// message's handling continues that trace.
func ReplayDLQ(ctx context.Context, js jetstream.JetStream, seq uint64) (err error) {
	s, err := js.Stream(ctx, StreamDLQ)
	if err != nil {
		return fmt.Errorf("opening stream %s: %w", StreamDLQ, err)
	}
	raw, err := s.GetMsg(ctx, seq)
	if err != nil {
		return fmt.Errorf("reading dead letter %d: %w", seq, err)
	}
	subject := raw.Header.Get(HeaderDLQSubject)
	if subject == "" {
		return fmt.Errorf("replaying dead letter %d: no %s header", seq, HeaderDLQSubject)
	}
	origID := raw.Header.Get(HeaderDLQMsgID)
	if origID == "" {
		origID = raw.Header.Get(HeaderDLQStream) + ":" + raw.Header.Get(HeaderDLQStreamSeq)
	}
	msg := &nats.Msg{Subject: subject, Header: withoutHeaders(raw.Header, dlqHeaderPrefix, "Nats-"), Data: raw.Data}
	ctx, span := tracer().Start(extract(ctx, raw.Header), "replay "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(tracing.Keep,
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.Int64("vpnbot.dlq.seq", int64(seq)),
		))
	defer func() { endSpan(span, err) }()
	Inject(ctx, msg)
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(origID+":replay:"+strconv.FormatUint(seq, 10))); err != nil {
		return fmt.Errorf("replaying dead letter %d to %s: %w", seq, subject, err)
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		return fmt.Errorf("deleting replayed dead letter %d: %w", seq, err)
	}
	return nil
}
