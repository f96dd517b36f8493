// Package shop is the domain of what a user buys: plans, the one free trial,
// orders (invoices) paid with Crypto Pay or Telegram Stars, subscription
// periods, and the VPN access of each period. The bot-handler and the workers
// (payment-watcher, activation, expiry-cleanup) call it; all its SQL lives here.
//
// Every rule that money depends on is enforced by PostgreSQL, not by reading
// and then writing in Go, so any number of replicas, webhooks and pollers may
// run the same operation at the same time:
//
//   - one trial per user, ever: the trials primary key;
//   - at most one active subscription per user: a partial unique index, which
//     purchases and trials upsert into (INSERT … ON CONFLICT DO UPDATE), so a
//     payment extends the active period from GREATEST(now, expires_at);
//   - an invoice pays once: UPDATE … WHERE status IN ('pending', 'expired')
//     RETURNING, and a Telegram charge id is UNIQUE;
//   - an invoice's order (user, plan, price, duration) is copied from the plan
//     when ordered and a trigger forbids changing it, so an old invoice paid
//     late grants what it offered, whatever the plan costs now;
//   - one Crypto Pay order on offer per user and plan, with one Crypto Pay
//     invoice: a partial unique index over pending orders not superseded,
//     which CryptoPayOrder upserts into, and a claim on the order
//     (external_claimed_at) that lets one request make its invoice while
//     the others wait for its link;
//   - one VPN access per period: a UNIQUE subscription_id, inserted with
//     ON CONFLICT DO NOTHING after the panel call;
//   - one inviter per user, for good, and no cycle of invites: the referrals
//     primary key and trigger, and an inviter who started the bot before
//     the invitee; a referral reward once per side and payment: its op key,
//     written in the payment's transaction.
//   - a promo code is used at most its limit, and by one user at most its
//     per-user limit: each use is counted by an UPDATE conditional on the
//     limit, which every use of the code queues on, and is numbered per
//     user and code, uniquely, within the per-user limit (a trigger); the
//     discount an order was made with is part of the order, immutable.
//   - an admin action (extend, end, ban, grant, refund, …) is done once per
//     op key, the confirmation pressed: under the key's advisory lock, the
//     action and its admin_audit row (unique op key, append-only) are one
//     transaction; a grant of days or balance is the ledger row "grant:"
//     and the key.
//
// Checks in Go are made only on fields the database keeps immutable (whose
// invoice it is, its price), where reading first cannot race.
//
// No network call happens inside a transaction: Activate and Revoke read the
// period, call the VPN panel with no connection held, then write in one short
// statement or transaction that re-checks what it read. A panel failure leaves
// the database as it was, and the caller retries later.
//
// Time comes from Config.NowFunc and is passed to every statement, so that tests
// can move the clock; the database never reads its own clock here.
package shop
