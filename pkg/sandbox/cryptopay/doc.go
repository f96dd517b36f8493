// Package cryptopay is a fake Crypto Pay (@CryptoBot's merchant API) for tests
// and `make run`.
//
// It speaks the real protocol, so the production client (pkg/cryptopay) is
// what gets exercised: methods under /api/<method> (getMe, createInvoice,
// getInvoices, deleteInvoice) take their parameters as a query string, a JSON
// body or a form, check the Crypto-Pay-API-Token header, and answer
// {"ok":true,"result":...} or {"ok":false,"error":{"code":..,"name":..}} with
// the invoice JSON Crypto Pay sends (amounts as strings, ISO 8601 times with
// milliseconds). getInvoices returns at most `count` invoices (default 100,
// at most 1000), as the real one does, so a client that forgets count loses
// invoices here before it does in production.
//
// It behaves the way Crypto Pay does where our design depends on it:
//   - A paid invoice is announced by an invoice_paid webhook to the
//     configured URL (Crypto Pay sets it in the app's settings, not through
//     the API: here Config.WebhookURL or SetWebhook), signed with the
//     crypto-pay-api-signature header exactly as the real service signs it.
//     A delivery that does not get a 2xx is retried with a growing delay, up
//     to MaxAttempts (Crypto Pay tries 17 times over 3 days).
//   - Invoices created with expires_in turn "expired" on their own once the
//     time has passed (checked whenever an invoice is read), and cannot be
//     paid any more. Expiry sends no webhook.
//   - bot_invoice_url points at the sandbox's own pay page (GET /pay/<hash>),
//     a small HTML page with a "Pay $4.99" button, so a person or a headless
//     browser can pay where the real link would open @CryptoBot.
//
// Tests drive it with MarkPaid (or MarkPaidUnannounced, its webhook lost),
// Expire and Resend, read Invoices, Requests (every API call with its
// parameters) and Stats, and inject failures (latency, error statuses,
// hangs) with Inject. The same controls are served as a small JSON API under
// /sandbox/ for `make run` and curl.
//
// With Config.StateDir the sandbox keeps its invoices across restarts, as
// Crypto Pay does: every change is written there (pkg/statefile) before it
// is answered, so invoice ids and update ids go on from where they were and
// are never handed out twice, even after a SIGKILL, and a pay link handed
// out before a restart opens after it as long as the sandbox listens on the
// same address. A change that cannot be written is undone and refused
// (500 INTERNAL_ERROR). Only webhook deliveries in flight are lost.
//
// Error names the sandbox gives to refused parameters (AMOUNT_INVALID,
// PAYLOAD_TOO_LONG, ...) are its own: Crypto Pay does not document its list.
// UNAUTHORIZED (401) and METHOD_NOT_FOUND (405) are the real ones.
package cryptopay
