// Package bus is the NATS JetStream layer every service shares.
//
// Connect dials NATS and keeps reconnecting forever, so a service may start
// before the broker and outlive its restarts. The Ensure* functions declare
// the streams idempotently, so any service can start first on an empty NATS.
// Publish is how updates enter the system: it waits for the stream's ack and
// reports duplicates (Nats-Msg-Id within the stream's duplicate window).
//
// Runner consumes a partitioned stream (TG_UPDATES): one durable pull
// consumer per partition with MaxAckPending = 1, so per-partition (per-chat)
// order holds across any number of replicas, while partitions run in
// parallel. Every message runs under a deadline; a handler that does not
// return in time is abandoned, copied to the DLQ stream and terminated, so a
// hung handler can neither block its partition nor cause a retry storm.
// Failures are retried with a growing delay, then dead-lettered. A Gate (for
// example "PostgreSQL answers") stops fetching during a dependency's outage,
// so the outage burns no deliveries and fills no DLQ.
//
// The DLQ stream keeps what could not be handled with headers saying why;
// ListDLQ and ReplayDLQ are what an operator's command uses.
package bus
