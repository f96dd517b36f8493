// Package notify builds the notifications that workers send to users, as
// outbox commands (vpnbotv1.SendMessage) for the sender: the key of a newly
// activated subscription and the receipt of a payment, the reminders before
// an expiry, the receipt of an auto-renewal and the warning that the balance
// is short of one, the trial funnel's notices, and the two messages of a
// period's end, in the user's language (English or Russian).
//
// A period ends in two steps, each told once: at its expiry the user is told
// that it ended and until when the key keeps working (TrialEnded from the
// trial-notifier, PaidEnded from the reminders worker), and once the grace
// is over and expiry-cleanup revoked the key, that it no longer works
// (KeyRevoked).
//
// A message from a worker reads like the bot itself, and its buttons work
// like the bot's: what both ends show alike (the callback data of the
// buttons, the language rule, dates, counts, the shared button labels and
// receipt) is pkg/botui's, which the bot-handler's screens use too. Each
// command carries a dedup id built from what makes it unique, so a worker
// that publishes it again (a retried iteration, a second replica) sends it
// once.
package notify
