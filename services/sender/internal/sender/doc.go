// Package sender sends the SendMessage commands of the OUTBOX stream to
// Telegram within the bot's rate limits.
//
// Sender.Lead runs on the elected leader only (the limits are the bot's,
// not a replica's). It holds one durable pull consumer per priority and
// feeds an in-memory scheduler: a FIFO per chat in publish order (stream
// sequence), a global token bucket (Config.Rate) and a minimum spacing per
// chat (Config.ChatRate). When several chats may send, the head of the most
// urgent priority goes first (transactional > reminder > broadcast), then
// the oldest; a chat never has two sends in flight.
//
// Each attempt first reads the sent-log (sent_messages) and the user's
// blocked_at: a command already sent is acknowledged without sending, one to
// a user who blocked the bot is dropped. Telegram's answer decides the rest:
// accepted → recorded in the sent-log, then acknowledged; 429 → the chat (or,
// when several chats hit it within a second, every send) waits retry_after,
// logged FLOOD_WAIT; 403 → users.blocked_at is set, USER_BLOCKED logged, the
// command dropped; another 4xx → dead-lettered to dlq.OUTBOX at once; 5xx or
// no answer → retried in its chat's place with a growing delay, dead-lettered
// after MaxAttempts. Held commands are marked in progress so their ack
// deadlines do not pass while they wait.
package sender
