// Package outbox is how a service asks the sender to message a user: the
// OUTBOX stream, its subjects, and the SendMessage command's publisher and
// decoder.
//
// No service but the sender calls Telegram to notify anyone; they Publish a
// vpnbotv1.SendMessage instead, and the sender sends it within Telegram's
// global and per-chat rate limits. Publish validates the command first, so
// a message Telegram could never accept fails in the service that made it,
// not later in the sender's DLQ.
//
// A command is sent at most once per dedup id: the id is the Nats-Msg-Id,
// so a publisher retrying after a lost ack stores it once within the
// stream's 24-hour duplicate window, and the sender's sent-log (table
// sent_messages) makes a redelivered or re-published command a no-op after
// that.
//
// Subjects are "outbox.<priority>.<partition>" — a deviation from DESIGN's
// "outbox.<partition>". The sender reads each priority with its own
// consumer, so a transactional message (a key, a receipt) overtakes a
// broadcast already queued, which one consumer reading the stream in order
// could not do. The partition is bus.Partition of the chat id into
// Partitions, as for updates, so one chat's messages share a subject and
// keep their order.
package outbox
