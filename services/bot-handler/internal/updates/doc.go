// Package updates is the bot-handler's consumer of TG_UPDATES: it turns one
// delivery of a raw Telegram update into one handled update.
//
// An update is decoded once, with telegram.DecodeUpdate: the definition of a
// valid update the gateway stores by, so every update the gateway stored
// decodes here, and one it would have refused (stored by an older gateway,
// or republished by hand) is dead-lettered as malformed. The same call gives
// the ids the handler logs and records, the chat and sender telebot gives
// the bot; the gateway's headers are not read.
//
// Deliveries are at least once (a redelivery after a lost ack, the gateway
// publishing an update again after the stream's duplicate window), so the
// handler keeps an inbox in PostgreSQL: an update already recorded there is
// acknowledged without effect, and one handled now is recorded after its
// handler succeeded. What the handler returns tells the consumer what to do
// next: nil acknowledges, a bus.Permanent error dead-letters at once (an
// update that can never be handled), any other error is retried later, no
// sooner than Telegram's retry_after when it asked for one. A panic is the
// consumer's to catch: the update is dead-lettered with its stack and the
// partition moves on.
package updates
