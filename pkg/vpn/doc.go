// Package vpn keeps users' VPN accounts on the panels a seller runs.
//
// A Panel is one panel, holding one account per Telegram user for life:
// CreateAccount makes it (or adopts the one of the same name), SetAccount
// enables or disables it and sets its expiry and traffic limit while keeping
// its link, RotateAccount gives it a new link (the old one stops working),
// DeleteAccount removes it, and Accounts lists the bot's accounts by pages
// for reconciliation. An account is named AccountName(prefix, user id),
// "vpnbot_u42", and the panel, which keeps names unique, is the record of
// what exists: a create that timed out after the panel acted, or that raced
// another replica, is answered by finding the account it made instead of
// making a second one. Every method is idempotent, because the workers retry
// whatever failed. Four adapters speak the panels' real management APIs, and
// each passes the same contract tests (vpntest.Contract) against a sandbox
// panel in pkg/sandbox:
//
//   - Outline (shadowbox): the account is the access key whose id and name
//     are the account name, made with PUT /access-keys/{id}, reached at a
//     secret API URL over a self-signed certificate pinned by its SHA-256.
//     Outline has no expiry and no disabled flag: a disabled account is a
//     data limit of 0 bytes, which the server enforces at once, and the bot
//     disables an account when its period ends. A key whose traffic reached
//     its limit is reported disabled. RotateAccount makes the key again
//     under the same id, so the server gives it a new password.
//   - Remnawave, 2.x and 3.x alike (libs/contract of remnawave/backend, read
//     at 2.8.1 and 3.3.2): the adapter asks the panel its version (GET
//     /api/system/metadata) on first use, and follows the panel when a call
//     shows it changed. Account ids are 3.x's numeric ids or 2.x's uuids; a
//     Ref carrying a 2.x uuid on a 3.x panel is found by its name, which is
//     how accounts recorded before an upgrade carry over. 3.x lists users by
//     keyset pages (users/stream), 2.x by offset.
//   - Marzban (0.8.x): the user is the account and its username the ID. The
//     adapter logs in with an admin's password for a token and logs in
//     again, once, when the panel refuses it. The panel issues a new
//     subscription URL with every answer, each valid until the subscription
//     is revoked, so the adapter hands out the first it saw for the account's
//     current credentials; RotateAccount revokes twice, a second apart,
//     because the panel's tokens are kept to the second.
//   - 3x-ui, the 2.8–2.9 line, 3.0 (a CSRF token) and 3.1 on
//     (/panel/api/clients/*), told apart at each login, never configured:
//     the account is a client of one inbound (email = account name, client
//     id = ID, link = the subscription URL and the client's subId). A lost
//     session is logged in again once per call.
//
// Errors say what kind of failure it was, with sentinels to test against:
// ErrUnavailable (panel down, 5xx, 429, too slow: retry later),
// ErrUnauthorized (wrong token, password or secret path: an operator must
// fix the configuration), ErrUntrustedCertificate (the panel's certificate
// does not match) and ErrNotFound (the account is not on the panel). No
// credential (a token, a password, a secret path, a client id) ever appears
// in an error.
//
// A Fleet is the panels a bot places its users on (VPN_PANELS, read by
// PanelEnv): each Member is a panel with the name its accounts are recorded
// under, a location, a weight and a capacity. Place chooses a new user's
// panel by weight and free room; a member that fails on its side is down
// until it answers again, and while it is down a fleet that fails over
// places new users on another panel of the location. A member's calls are
// told to the fleet's Observer (pkg/vpn/vpnmetrics exports them) and its
// errors name it (PanelOf). Limit wraps a Panel so that it makes at most n
// calls at once, however many goroutines call it: the load a worker puts on
// the panel.
//
// The package logs nothing and measures nothing itself.
package vpn
