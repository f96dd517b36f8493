// Package telegram holds what several services need to know about the
// Telegram Bot API: the one client (Client), the bot id inside a token (for
// deduplication ids such as "<bot id>:<update_id>"), the TG_UPDATES stream,
// and what a valid update is.
//
// A Client given a Pacer makes every call that posts or edits a message
// (Sends) wait for its chat's turn first, whichever way the call was made:
// the services that send as the bot share one budget per chat (package
// chatpace), so that together they stay within Telegram's per-chat limit.
//
// DecodeUpdate is that definition, and both ends of the stream call it: the
// gateway stores only the updates it accepts (answering 400 otherwise), and
// the bot-handler decodes each stored update with it. It decodes the whole
// update, into telebot's Update, as the bot-handler needs it, after one pass
// over the bytes for what encoding/json lets through (invalid UTF-8,
// duplicated keys, nesting past MaxUpdateDepth); so an update the gateway
// accepted always decodes in the bot-handler, and the update id, chat and
// user the gateway routes it by (UpdateMeta, for partitioning, so one chat's
// updates stay in order on one stream partition) are the ones the bot is
// given.
package telegram
