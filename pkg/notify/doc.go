// Package notify builds the notifications that workers send to users, as
// outbox commands (vpnbotv1.SendMessage) for the sender: the key of a newly
// activated subscription and the receipt of a payment, the reminders before
// an expiry, the notice of its end and the trial funnel's notices, in the
// user's language (English or Russian).
//
// A message from a worker reads like the bot itself, and its buttons work
// like the bot's: what both ends show alike (the callback data of the
// buttons, the language rule, dates, counts, the shared button labels and
// receipt) is pkg/botui's, which the bot-handler's screens use too. Each
// command carries a dedup id built from what makes it unique, so a worker
// that publishes it again (a retried iteration, a second replica) sends it
// once.
package notify
