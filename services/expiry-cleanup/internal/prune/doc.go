// Package prune is expiry-cleanup's housekeeping: it deletes the rows of
// the three tables that only ever grow and are needed only for a while.
//
//   - sent_messages, the sender's sent-log, by sent_at: it makes a
//     redelivered or re-published send command a no-op, which matters as
//     long as a command can come back: the OUTBOX keeps one for 7 days,
//     its duplicate window is 24 h, and on-call can replay a dead letter
//     from the DLQ for 14 days (pkg/bus, pkg/outbox);
//   - processed_updates, the bot-handler's inbox, by handled_at: an update
//     comes back within TG_UPDATES's duplicate window (1 h), through
//     redeliveries (MaxDeliver 10, AckWait 30 s, retry delays up to 1 min:
//     minutes), from Telegram (up to 24 h), or from a DLQ replay (14 days);
//   - notifications_sent, the workers' once-only records, by the period
//     they belong to: its rows go once that period was revoked longer than
//     the retention ago. Revocation is final (a later purchase starts a new
//     period), and no worker looks at a period revoked that long ago (the
//     expiry notice looks back 24 h, the check for keys a racing activation
//     left on the panel 7 days; the notices of the end, trial or paid, look
//     only at active periods), so "once per (period, kind, expiry)" still
//     holds. A row's own times do not tell: activation's
//     "key" row holds the access's creation time and must stay as long as
//     the period runs, for years if it is renewed.
//
// Hence no retention may be shorter than MinRetention. Rows are deleted a
// batch at a time, each batch its own short statement that locks at most
// BatchSize rows (selected through an index, oldest first, FOR UPDATE SKIP
// LOCKED: replicas pruning at once share the work instead of waiting for
// each other), so a large backlog never holds long locks. A pass runs every
// Every per replica and stops starting batches after Budget; what is left
// is taken up by the next iteration.
package prune
