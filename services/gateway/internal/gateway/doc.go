// Package gateway turns Telegram updates into JetStream messages, and does
// nothing else: it runs no handler and holds no database connection, so a
// slow or failing handler can never block the endpoint Telegram talks to.
//
// In webhook mode (the default, any number of replicas) Telegram posts each
// update to /telegram/webhook. The gateway first stamps the time of the
// request (so the watchdog sees traffic even when the secret is wrong), then
// checks the secret header, decodes the update with telegram.DecodeUpdate —
// the definition of a valid update the bot-handler decodes with too, so that
// what is stored can be handled — and answers 400, storing nothing, with the
// reason in the answer and the log, when it is not one. It publishes the raw
// body to tg.updates.<partition of the chat> with Nats-Msg-Id
// "<bot id>:<update id>" and the update id, chat and user as headers
// (Tg-Update-Id, Tg-Chat-Id, Tg-User-Id). It answers 200 only after
// the stream acknowledged the update, and 503 when it could not: Telegram
// then retries, and sends a chat's next update only after a 2xx, which is
// what keeps each chat's updates in order in the stream. Telegram's retries
// of an update that was stored after all are dropped by the stream's
// duplicate window.
//
// In poll mode the gateway deletes the webhook and long-polls getUpdates,
// publishing each valid update the same way, in order (an invalid one is
// logged, UPDATE_MALFORMED, and skipped), and confirming it to
// Telegram (by advancing the offset) only after the stream stored it; a
// failed publish is retried, never skipped. Telegram allows one getUpdates
// consumer per bot, so poll mode must run as a single replica. (The webhook
// endpoint still listens in poll mode; without a secret it refuses everything.)
//
// With WEBHOOK_PUBLIC_URL set, the gateway registers its webhook at start.
// Telegram cannot tell which secret a webhook has, so it calls setWebhook
// once on every start, even when getWebhookInfo shows the same URL,
// allowed_updates and max_connections: that is what makes a changed
// TELEGRAM_WEBHOOK_SECRET take effect. Doing so never drops pending updates.
//
// With CRYPTOPAY_TOKEN set, the same server takes Crypto Pay's webhook on
// /cryptopay/webhook: it checks the signature before anything else, then
// stores the raw body on payments.cryptopay (EVENTS) for the
// payment-watcher, answering 503 when it could not, as for Telegram.
//
// Health: the service skeleton (pkg/service) declares TG_UPDATES and EVENTS,
// retrying until NATS answers, and again whenever a publish finds no stream
// on its subject; /readyz follows the NATS connection and the streams.
// /livez fails when the webhook server has stopped serving or, in poll mode,
// the poller has made no progress for two minutes. If no update arrives
// within WATCHDOG_GRACE of the start, WATCHDOG_GRACE_END is logged once.
package gateway
