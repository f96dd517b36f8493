// Command sender is the one outbound path for notifications (DESIGN §1): it
// consumes SendMessage commands from the OUTBOX stream and sends them to
// Telegram within the bot's limits — SENDER_RATE sends a second in all
// (default 25, leaving room under Telegram's ~30/s for the bot-handler's
// replies) and, per chat, the budget it shares with the bot-handler
// (TELEGRAM_CHAT_RATE, default 1 a second, TELEGRAM_CHAT_BURST 2; see
// pkg/telegram/chatpace): its client waits for the chat's turn before each
// send, so a reply and a notification to one chat never exceed Telegram's
// limit together.
//
// # Paid broadcasts
//
// A command with paid_broadcast (the admin chose to pay Stars for a fast
// broadcast) is sent with Telegram's allow_paid_broadcast, which lets it
// past the free ~30/s: it takes no token of SENDER_RATE and no slot of the
// bot-wide budget (the client reserves its chat's slot only), but one of
// SENDER_PAID_RATE (default and most 1,000/s, Telegram's paid limit), and
// still one of its chat's, so each chat gets at most a message a second.
// The sent-log is checked and written in batches across the sends in
// flight, so a thousand sends a second cost a few dozen round trips for it.
//
// # Cancelled broadcasts
//
// A command naming a broadcast (broadcast_id) is not sent once an admin has
// cancelled that broadcast (broadcasts.cancelled_at): it is acknowledged,
// counted with outcome cancelled, and the broadcast's first such is logged
// BROADCAST_CANCELLED_DROPPED. The sender reads a broadcast's state at most
// once a second, however many of its messages are in flight, so up to a
// second's worth may still go after the cancellation; once known, the rest
// are dropped without waiting for a rate token.
//
// # One sender at a time
//
// The limits belong to the bot, so only one replica sends: the replicas
// hold a PostgreSQL leader election (an advisory lock on a connection of
// their own) and the leader runs the sending loop; a standby takes over
// within seconds of the leader's death. Scaling the sender out therefore
// buys a faster failover, not more throughput; the throughput is the rate
// limit. The election's connection comes on top of DB_POOL_MAX_SIZE.
//
// # Scheduling
//
// One shared bus.Consumer per priority (durable sender-<priority>, filter
// outbox.<priority>.>, up to 500 commands held) hands its commands over in
// stream order to an in-memory scheduler: a FIFO per chat in publish order,
// a global token bucket and a per-chat spacing at TELEGRAM_CHAT_RATE (so a
// chat with a backlog does not hold a send slot while it waits its turn in
// the shared budget). Among the chats that may
// send, the most urgent priority goes first (transactional > reminder >
// broadcast), then the oldest command. A chat never has two sends in
// flight, and its messages leave in publish order, across a crash too: the
// consumers keep held commands in progress every second (AckWait 3 s), so a
// dead leader's commands come back within 3 s of its death, and a new
// leader sends nothing for its first AckWait, by when they have taken their
// places in their chats' queues (the e2e test TestKilledSenderLosesNothing
// checks the order and that nothing is lost). A standby takes the lead
// within a second, so a crash costs the chats about four seconds.
//
// # Outcomes
//
//   - Already in the sent-log (sent_messages, by dedup id): acknowledged
//     without sending, so a redelivered or re-published command is a no-op.
//   - Sent: inserted into the sent-log, then acknowledged. A crash between
//     Telegram's answer and the insert sends that one message again on
//     redelivery: the sender is at-least-once for that window only.
//   - 429: the chat waits retry_after; when several chats hit 429 within a
//     second the limit is taken as bot-wide and every send waits. Logged
//     FLOOD_WAIT, counted in vpnbot_sender_flood_waits_total.
//   - Its broadcast cancelled: acknowledged unsent (above).
//   - 403: users.blocked_at is set (the chat id is the user id in a private
//     chat), USER_BLOCKED logged, the command dropped; later commands to
//     that user are dropped without calling Telegram.
//   - Another 4xx (401, a wrong token, is retried), or a command that does
//     not decode: dead-lettered to dlq.OUTBOX with reason permanent (the dlq
//     command lists and replays it) and terminated.
//   - 5xx or no answer: retried in the chat's place with a growing delay;
//     after SENDER_MAX_ATTEMPTS failures, dead-lettered with reason
//     max_deliver.
//
// The consumer logs a dead-lettering as MESSAGE_DEAD_LETTERED, its msg_id
// being the command's dedup id. If the DLQ refuses the copy it logs
// DLQ_PUBLISH_FAILED and gives the command back for a later redelivery,
// which starts over: Telegram is called again.
//
// # Shutdown
//
// On SIGTERM (or a lost leadership) the sender stops fetching, finishes the
// sends in flight, gives back (nak) what it holds so the next leader sends
// it at once, then drains NATS and closes the pool. /livez fails when the
// leader's dispatch loop or one of its consumers stops turning; /readyz
// checks NATS and PostgreSQL.
package main
