// Package bus is the NATS JetStream layer every service shares. It knows no
// business subject: each stream's definition lives with the package that
// owns its messages (telegram.UpdatesStreamConfig, events.StreamConfig,
// outbox.StreamConfig); bus owns only the DLQ, where every consumer puts
// what it cannot handle.
//
// Connect dials NATS and keeps reconnecting forever, so a service may start
// before the broker and outlive its restarts, and moves to another node of
// a cluster when its node goes. DeclareStreams declares streams
// idempotently, so any service can start first on an empty NATS; WithReplicas
// sets how many servers keep each (STREAM_REPLICAS), which the consumers and
// the DLQ they declare follow.
// Publish waits for the stream's ack and reports duplicates (Nats-Msg-Id
// within the stream's duplicate window).
//
// Consumer is the one way to read a stream, in one of two modes:
//
//   - Partitioned: one durable pull consumer per partition with
//     MaxAckPending = 1, so per-partition (per-chat) order holds across any
//     number of replicas, while partitions run in parallel (TG_UPDATES);
//   - Shared: one durable that every replica pulls from, up to MaxInFlight
//     deliveries at once per replica, in no order (EVENTS, OUTBOX). A
//     HoldFunc may take deliveries in stream order and settle them later (the
//     sender holds commands until their chat's turn).
//
// Whatever the mode, the Consumer settles every message the same way from
// its handler's result: nil acknowledges; an error retries with a growing
// delay (RetryAfter asks for longer, Release gives the message back at once)
// until MaxDeliver, then dead-letters; Permanent and Exhausted dead-letter at
// once. A panic is a poison message: dead-lettered with its stack
// (Dlq-Stack), and the consumer lives on. A handler that does not return by
// its deadline is abandoned, its message dead-lettered and terminated, so a
// hung handler can neither block its partition nor cause a retry storm;
// with MaxDeliver Unlimited (payments) nothing but a Permanent error or a
// panic is ever given up. Messages in hand are kept in progress every
// AckWait/3 until settled, so AckWait (DefaultAckWait, 3 s) bounds how long
// a dead replica's messages wait — a failover in seconds, not a handler
// deadline — however long a live handler takes. A GateFunc (for example "PostgreSQL
// answers") stops fetching during a dependency's outage, so the outage burns
// no deliveries and fills no DLQ. A durable deleted underneath is declared
// again; Live and Ready are the consumer's health for /livez and /readyz;
// vpnbot_consumer_* metrics count outcomes, redeliveries and lag.
//
// Every message carries W3C trace context (traceparent) in its headers when
// tracing is on (pkg/tracing): PublishMsg starts a producer span under the
// caller's and writes it there; the Consumer starts each delivery's
// consumer span as its child and passes it in the handler's ctx, so a
// redelivery is another child of the same publish. The per-delivery log
// lines carry trace_id and span_id. A dead letter keeps the original's
// traceparent (ListDLQ shows its TraceID), the dead-lettering is a root span
// of its own linked to the failed delivery and always sampled, and
// ReplayDLQ's span is a child of the original trace, which the replayed
// message continues. With tracing off no header is written and the spans
// are the API's no-ops.
//
// The DLQ stream keeps what could not be handled with headers saying why;
// ListDLQ and ReplayDLQ are what an operator's command uses, and WatchDLQ
// exports its size for the "DLQ not empty" alert.
package bus
