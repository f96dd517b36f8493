// Package watcher confirms Crypto Pay invoices and applies each paid one
// exactly once (DESIGN §1, §3).
//
// Two paths report payments, and either alone is enough:
//
//   - Events: the gateway verifies each webhook's signature and stores the
//     raw body on payments.cryptopay (EVENTS). Consume reads them with one
//     durable consumer shared by every replica; a message is acknowledged
//     once handled, also when it names an invoice we do not know, and
//     retried with a growing delay (NakWithDelay) while the database or
//     NATS is down.
//   - Polling: Poll is a worker iteration (pkg/worker), run as a singleton
//     so that replicas do not ask Crypto Pay twice. It lists our pending
//     Crypto Pay orders, asks getInvoices about them by id (at most 1,000 a
//     call), applies the paid ones and expires those Crypto Pay expired (or
//     deleted) and those never sent to Crypto Pay once past their TTL.
//
// Both end in shop.ApplyPayment, whose conditional UPDATE makes the
// invoice pay once, whatever mix of webhooks, polls and replicas reports
// it. Before that, both check that the paid invoice is the one made for
// the order its id is attached to (its payload names that order): a
// payment of any other invoice — no order has its id, or a Crypto Pay that
// hands out an id again, as a sandbox started afresh would — applies
// nothing and is logged PAYMENT_UNKNOWN_INVOICE and counted, never
// dropped silently. Then the payment is announced: the user is told (notify.PaymentReceived,
// dedup id "payment:<invoice>", with the expiry of the period it paid for)
// and the activation worker woken (activation.requested, requested_at = the
// invoice's paid_at); a top-up of the balance is told as one
// (notify.TopUpReceived, under the same dedup id, with the balance now) and
// wakes nobody. Once NATS has stored them, the invoice is marked
// announced (shop.MarkAnnounced). Their message ids are stable, so
// announcing a payment again adds nothing: the streams and the sender's
// sent-log keep one.
//
// Applying commits before announcing, so a watcher may die, or lose NATS,
// in between. A webhook event is acknowledged only after both, so its
// redelivery announces the payment. Each poll, after applying, announces
// every Crypto Pay payment not marked announced (shop.UnannouncedPayments):
// those it just applied, and any left unannounced by a watcher that died
// (logged PAYMENT_ANNOUNCED_LATE). So no paid invoice stays untold while a
// leader polls.
package watcher
