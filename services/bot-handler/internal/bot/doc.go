// Package bot is what the bot says: it routes one Telegram update to its
// handler with telebot.v3 and answers through the Bot API.
//
// telebot is built to own a long-running loop, but here the loop is the
// stream consumer, which gives every update a context with a deadline. So each
// update gets a throwaway offline, synchronous telebot.Bot (cheap: a few maps)
// whose handlers close over that update's context and whose HTTP client is
// the bot's telegram.Client's (HTTPClient), which attaches the context to
// every Bot API request. That way a handler sees its context without any
// shared map, the handler's error comes straight back to the caller, and a
// request to a hung Telegram ends when the update's deadline does instead of
// outliving it. The same client paces every message it posts or edits by
// the chat's budget, which the sender's notifications share
// (pkg/telegram/chatpace), so a reply waits its turn rather than draw a 429.
//
// The same client turns every non-2xx Bot API answer into a *telegram.Error,
// which is how errors are classified: 429 and 5xx are retried (after the
// retry_after Telegram asks for), 403 in a private chat means the user
// blocked the bot (recorded, nothing to retry), any other 4xx is ErrRejected
// (retrying cannot help). A handler's panic is not recovered here: it is the
// consumer's to catch (see package updates).
//
// What the user sees is built by pure functions in screens.go (what a screen
// shows + language → HTML text and inline keyboard), golden-tested in English
// and Russian against testdata/golden (`go test ./internal/bot -update`
// rewrites them); the words live in texts.go. What the screens share with the
// workers' messages (pkg/notify) is pkg/botui's: the callback data of the
// buttons, which onCallback reads with botui.ParseCallback whichever end drew
// the button, the language rule, dates, counts, escaping and the shared
// labels. flows.go runs the flows: button presses are answered first and edit
// their message in place; the trial, orders and payments are pkg/shop's
// operations, so every money rule is the database's; Crypto Pay is called
// outside any transaction; Telegram Stars payments are validated at
// pre-checkout and applied once per charge id. New link, under a key,
// replaces a leaked link: it asks first, as the old link dies at once, then
// records the request (shop.RequestNewLink) and wakes the activation worker,
// which rotates the account on its panel and delivers the new link as a new
// key; a double tap asks once.
//
// autorenew.go is auto-renewal from the balance, on the subscription screen:
// On and Off (two buttons, so a retried press keeps its effect), and the
// plan it renews with; the reminders worker renews. The top-up button of
// its short-balance warning orders the stars the renewal lacks, once per
// press (shop.CreateRenewalTopUpOnce), and sends their Stars invoice.
//
// broadcast.go is the admins' /broadcast (a text, or a photo captioned
// with it, with buttons in its last lines): the bot-handler never messages
// users in bulk itself. It records a draft (keyed by the update, so a
// redelivery makes no second one), shows the admin the message as users
// will get it and what sending it means, and only Send (or Send as paid
// broadcast) confirms the draft, once however often it is pressed, fixing
// its recipients and publishing one SendMessage per recipient to OUTBOX at
// broadcast priority, for the sender to deliver at Telegram's rate limits.
// /broadcast_status reads the sender's sent-log to report progress;
// /broadcast_cancel (after a confirmation) sets cancelled_at, and the
// sender drops what was not sent. Its texts are in broadcast_texts.go.
//
// roles.go, usercard.go, usercmds.go and audit.go run the shop from
// Telegram. Owners are ADMIN_IDS; admins and support are roles granted by an
// owner (/role). Each admin command and each button of an admin screen reads
// the role again when used; to someone without it a command is the unknown
// command it is to a customer. /user <id | @name | #invoice | charge id>
// shows a user's card; its actions (days added or taken, end now, ban,
// unban, new key, refund) ask first, and the yes carries the id of the update
// that asked, so its op key is the same however often it is pressed or
// delivered: the shop does it once and records it once (admin_audit).
// /extend, /grant and /msg are their own confirmation, keyed by their update.
// /audit lists the trail. banned.go stops a banned user's updates before any
// route: one notice per ban, claimed in user_notices; a pre-checkout is
// refused, a payment taken is applied.
//
// channel.go is the required channel (REQUIRED_CHANNEL): before the trial,
// or before any use but payments, help, languages and admin commands, a
// user must have joined it, which Telegram tells (getChatMember through the
// bot's telegram.Client, outside telebot). A Channel keeps Telegram's
// answers per replica for a short while; Check again asks past them. When
// Telegram cannot tell, the user is let through: the gate is a marketing
// rule and must never stand between a user and what they pay for.
package bot
