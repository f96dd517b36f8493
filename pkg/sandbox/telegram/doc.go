// Package telegram is a fake Telegram Bot API server for tests and `make run`.
//
// It speaks the real protocol (`/bot<token>/<method>` with JSON, form or
// multipart bodies; `{"ok":...}` answers with Telegram's error codes and
// descriptions), so the production adapters — telebot.v3 in the bot-handler
// and sender, plain HTTP in the gateway — are what gets exercised, not a mock
// of them.
//
// It behaves the way Telegram does where our design depends on it:
//   - Updates written by fake users (SendText, PressButton, Enqueue) are
//     delivered to the registered webhook with the secret header, one queue per
//     chat: a chat's next update leaves only after the previous one got a 2xx,
//     failed deliveries are retried with a growing delay, and different chats
//     are delivered in parallel up to max_connections. Without a webhook they
//     wait for getUpdates (long polling, offset confirms); getUpdates while a
//     webhook is set answers 409 like Telegram.
//   - Sending methods are flood-limited per chat and bot-wide (429 with
//     retry_after), and users who blocked the bot answer 403. A message sent
//     with allow_paid_broadcast takes a bot-wide limit of its own (1,000/s,
//     PaidRate) instead of the free ~30/s, the chat's all the same, and is
//     counted (Stats.PaidBroadcasts: Telegram bills each in Stars).
//   - A photo a user sends (SendPhoto) has a file_id, which sendPhoto then
//     takes as its photo, as Telegram's does.
//   - Payments in Telegram Stars run as in Telegram: sendInvoice (XTR only;
//     other currencies need a payment provider and fail), then PayInvoice
//     sends the bot a pre_checkout_query, waits up to 10 s for
//     answerPreCheckoutQuery and, if the bot accepted, sends a message with
//     successful_payment and a unique charge id. ResendSuccessfulPayment
//     delivers such a message again, as Telegram may. refundStarPayment
//     gives a payment back once (CHARGE_ALREADY_REFUNDED after), and only
//     to its payer (CHARGE_NOT_FOUND otherwise). createInvoiceLink makes
//     the same invoice as a link (https://t.me/$<slug>) for a Mini App;
//     PayInvoiceLink pays it the same way, as often as a user pays it.
//   - getChatMember answers for channels set up with SetChatMember, with
//     the ChatMember object of each status (creator, administrator, member,
//     restricted with is_member, left, kicked); a user never set there has
//     left, an unknown channel is 400 "chat not found", and HideMembers
//     makes it 400 "member list is inaccessible", Telegram's answer to a
//     bot that is not the channel's administrator.
//   - HTML parse_mode is checked like Telegram checks it (unsupported or
//     unclosed tags fail with 400 "can't parse entities"), edits that change
//     nothing fail with "message is not modified", and callback data longer
//     than 64 bytes fails with BUTTON_DATA_INVALID — mistakes that would
//     otherwise surface only in production.
//
// Tests inspect what the bot sent through Messages/WaitMessages (the chat as
// the user sees it: edits applied, deleted messages gone), how often it
// answered each update (Answers) and whether it ever sent faster than the
// limits allow (Floods, apart from the 429s a test injected), and inject
// failures (latency, error statuses, hangs) with Inject. The same controls are served
// as a small JSON API under /sandbox/ for `make run` and curl.
//
// With Config.StateDir the chats survive a restart, as they do in Telegram:
// both sides of every chat, the users' profiles, the updates not yet
// delivered and the last ids are restored by Start (pkg/statefile). The
// snapshot is written within SaveInterval of a change and at Close, so a
// SIGKILL loses the last second of changes at most; ids are never reused
// even then, because the server reserves update and message ids on disk
// before it hands them out (reserved-ids.json, removed at a clean Close),
// and a run that finds a reservation left behind goes on past it.
package telegram
