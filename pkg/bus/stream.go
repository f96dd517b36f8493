package bus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
)

// StreamDLQ holds what could not be handled, on dlq.<stream>, with Dlq-*
// headers saying why. It is the bus's own stream: every Consumer writes to
// it, whatever the stream it reads.
const StreamDLQ = "DLQ"

const (
	dlqPrefix = "dlq"
	dlqMaxAge = 14 * 24 * time.Hour
	// dlqDuplicates covers retries of one dead-lettering (Nats-Msg-Id
	// "<stream>:<seq>"), which happen within the retry delay.
	dlqDuplicates = time.Hour
)

// DLQSubject is the subject of the dead letters of stream: "dlq.<stream>".
func DLQSubject(stream string) string {
	return dlqPrefix + "." + stream
}

// DLQStreamConfig is the DLQ stream's definition.
func DLQStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamDLQ,
		Description: "messages that could not be handled, with Dlq-* headers saying why",
		Subjects:    []string{dlqPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      dlqMaxAge,
		Duplicates:  dlqDuplicates,
	}
}

// DeclareStreams creates each stream, or puts its configuration back if it
// drifted. Calling it again changes nothing, so every service declares, at
// start, the streams it reads and writes, and any of them may start first
// on an empty NATS. The package that owns a stream's messages owns its
// definition (outbox.StreamConfig, say).
func DeclareStreams(ctx context.Context, js jetstream.JetStream, streams ...jetstream.StreamConfig) error {
	var errs []error
	for _, cfg := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			errs = append(errs, fmt.Errorf("declaring stream %s: %w", cfg.Name, err))
		}
	}
	return errors.Join(errs...)
}

// WithReplicas returns streams, each kept by n NATS servers (Replicas): the
// service skeleton applies STREAM_REPLICAS this way to every stream a
// service declares, so that DeclareStreams puts the count back like any
// other part of a stream's definition. The consumers read them with
// Replicas 0, which JetStream takes as "as many as the stream".
func WithReplicas(n int, streams ...jetstream.StreamConfig) []jetstream.StreamConfig {
	out := make([]jetstream.StreamConfig, len(streams))
	for i, cfg := range streams {
		cfg.Replicas = n
		out[i] = cfg
	}
	return out
}

// Publish publishes data to subject with Nats-Msg-Id msgID (none when empty)
// and waits, bounded by ctx, until the stream has stored it. duplicate
// reports that the stream had already stored msgID within its duplicate
// window, so this publish added nothing.
func Publish(ctx context.Context, js jetstream.JetStream, subject string, data []byte, msgID string) (duplicate bool, err error) {
	return PublishMsg(ctx, js, &nats.Msg{Subject: subject, Data: data}, msgID)
}

// PublishMsg is Publish of a message with headers: what the publisher
// already knows of the message, for its consumers.
//
// The message carries the W3C trace context of a producer span, a child of
// ctx's span, in its headers (none with tracing off), so its consumers
// continue the trace.
func PublishMsg(ctx context.Context, js jetstream.JetStream, msg *nats.Msg, msgID string) (duplicate bool, err error) {
	ctx, span := startPublish(ctx, msg, msgID)
	defer func() { endSpan(span, err) }()
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return false, fmt.Errorf("publishing to %s: %w", msg.Subject, err)
	}
	if ack.Duplicate {
		span.SetAttributes(attribute.Bool("vpnbot.duplicate", true))
	}
	return ack.Duplicate, nil
}

// Partition maps key (a chat or user id) to one of n partitions. It is
// FNV-1a of the key's 8 big-endian bytes mod n, and must never change: a
// publisher and a consumer of different versions (the gateway and the
// bot-handler) have to agree on it. n must be
// at least 1; a smaller n yields 0.
func Partition(key int64, n int) int {
	if n < 1 {
		return 0
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(key))
	h := fnv.New64a()
	_, _ = h.Write(b[:]) // hash.Hash never fails
	return int(h.Sum64() % uint64(n))
}
