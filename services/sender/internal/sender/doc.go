// Package sender sends the SendMessage commands of the OUTBOX stream to
// Telegram within the bot's rate limits: Sender.Lead, run by the elected
// leader, feeds its consumers' deliveries to a scheduler that decides when
// each command goes, and settles each one from Telegram's answer. The
// command's doc (services/sender) tells the whole story: scheduling,
// outcomes and shutdown.
package sender
