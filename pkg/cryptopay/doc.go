// Package cryptopay is a client of the Crypto Pay API (@CryptoBot's merchant
// API, https://pay.crypt.bot) and the verifier of its webhooks.
//
// We sell plans priced in USD, so invoices are created in fiat (currency_type
// "fiat", fiat "USD") and the payer chooses one of the accepted crypto assets.
// The invoice's payload names our order, so whatever reports an invoice paid —
// the webhook or the poller calling GetInvoices — leads back to exactly one
// order, and applying it is the store's idempotent business, not ours.
//
// Errors tell the caller what to do next: ErrUnavailable (network error,
// timeout, 5xx, 429) means "try again later", an *APIError is Crypto Pay's own
// refusal ({"ok":false,"error":{"code":..,"name":..}}) and retrying it
// unchanged will not help. The API token is a credential: it goes only into
// the Crypto-Pay-API-Token header and into the webhook key, never into an
// error or a log line.
//
// Webhooks: Crypto Pay POSTs {"update_id", "update_type":"invoice_paid",
// "request_date", "payload": <Invoice>} with the header
// crypto-pay-api-signature = hex(HMAC-SHA256(key = SHA256(token), raw body)).
// VerifyWebhook checks it in constant time over the raw bytes, before
// anything is decoded; ParseUpdate then reads the update.
package cryptopay
