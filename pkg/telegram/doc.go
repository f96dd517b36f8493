// Package telegram holds what several services need to know about Telegram
// Bot API updates without decoding them fully: the bot id inside a token (for
// deduplication ids such as "<bot id>:<update_id>") and the update id, chat
// and user of a raw update (for partitioning, so one chat's updates stay in
// order on one stream partition).
//
// The full decode is the business of the service that handles an update
// (bot-handler, with telebot.v3); the gateway only routes the raw bytes.
package telegram
