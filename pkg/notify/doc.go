// Package notify builds the notifications that workers send to users, as
// outbox commands (vpnbotv1.SendMessage) for the sender: the key of a newly
// activated subscription and the receipt of a payment, in the user's
// language (English or Russian).
//
// The wording, the date format ("2 Jan 2027 15:04 UTC") and the "My
// subscription" button are those of the bot-handler's screens, so a message
// from a worker reads like the bot itself. Each command carries a dedup id
// built from what makes it unique, so a worker that publishes it again (a
// retried iteration, a second replica) sends it once.
package notify
