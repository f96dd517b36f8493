// Command reminders is the reminders worker (DESIGN §1): every
// WORKER_INTERVAL it reminds the users whose paid subscription ends within a
// stage of REMINDER_STAGES (default 72h,24h,1h), and once it has ended that
// the key works until EXPIRY_GRACE after the expiry, each once per expiry,
// through the sender (OUTBOX). Replicas share the work by claiming each
// reminder in the database; see internal/reminders.
//
// It also renews, from the user's balance, the periods whose user turned
// auto-renewal on, AUTO_RENEW_LEAD (default 24h) before they end, and tells
// the user (a receipt, or once per cycle that the balance is short). That
// is a stage of the same iteration rather than a worker of its own: it
// reads the same periods nearing their end, on the same interval, sends
// through the same OUTBOX and claims its messages in notifications_sent as
// the reminders do, and it runs first, so that a period renewed is not
// reminded of the expiry it no longer has. It needs no deployment, pool or
// leader of its own: the charge is made once per cycle by the database
// (shop.Renew), however many replicas run it. It wakes no activation
// worker: a renewal keeps the period and its key, and the activation
// worker's polling extends the key's expiry on a panel that keeps one
// (shop.PendingActivations lists a period whose panel expiry is behind).
//
// Last in each iteration, when ADMIN_FEED_CHAT is set, it posts the sales
// feed to that chat (internal/feed): each trial, payment, top-up, purchase,
// renewal, refund and admin ban or change of access once, many to a
// message, in ADMIN_FEED_LANG, and from ADMIN_FEED_SUMMARY_HOUR (UTC) the
// summary of the day before. It is a stage of this worker because it sends
// the shop's scheduled messages already: the same interval, OUTBOX and
// claims, no deployment of its own.
package main
