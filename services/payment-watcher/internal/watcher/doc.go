// Package watcher confirms Crypto Pay invoices and applies each paid one
// exactly once (DESIGN §1, §3; issue #5).
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
// it. Then the user is told (notify.PaymentReceived, dedup id
// "payment:<invoice>") and the activation worker woken
// (activation.requested, requested_at = the invoice's paid_at). Both are
// published again whenever a paid invoice is reported again: their message
// ids are stable, so the streams and the sender keep one, and a publish that
// failed after the payment was applied (NATS down) is made good by the
// retried event. A payment that only the poller saw, applied just before
// NATS went away, may miss its notification; its activation is not lost,
// because the activation worker also polls the database.
package watcher
