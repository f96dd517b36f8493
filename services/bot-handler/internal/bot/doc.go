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
// broadcast.go is the admins' /broadcast: the bot-handler never messages
// users in bulk itself; it records the broadcast and its recipients (keyed
// by the update, so a redelivery makes no second one) and publishes one
// SendMessage per recipient to OUTBOX at broadcast priority, for the sender
// to deliver at Telegram's rate limits. /broadcast_status reads the
// sender's sent-log to report progress.
package bot
