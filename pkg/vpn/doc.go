// Package vpn creates, extends and revokes users' VPN access on a VPN panel.
//
// A Provisioner is one panel. Two adapters speak the panels' real management
// APIs: Outline (shadowbox access keys, reached at a secret API URL over a
// self-signed certificate that is pinned by its SHA-256, as the Outline
// Manager does) and Remnawave (panel users with an expiry, a subscription URL
// and a bearer API token).
//
// Every method is idempotent, because the activation and expiry workers retry
// whatever failed and several replicas may act on the same subscription. The
// panel itself is the record of what exists: the access for a subscription is
// named after it ("vpnbot-42" as an Outline key id, "vpnbot_42" as a
// Remnawave username), so a Create that timed out after the panel acted, or
// that raced another replica, is answered by finding the access it made
// instead of making a second one.
//
// Errors say what kind of failure it was, with sentinels to test against:
// ErrUnavailable (panel down, 5xx, too slow: retry later), ErrUnauthorized
// (wrong token or secret path: an operator must fix the configuration),
// ErrUntrustedCertificate (the panel's certificate does not match) and
// ErrNotFound (the access is not on the panel). Neither the Outline API URL's
// secret path nor the Remnawave token ever appears in an error.
//
// As a Panel, Outline keeps a user's account as the key whose id and name
// are the account name, made with PUT /access-keys/{id}. Outline has no
// expiry and no disabled flag: a disabled account is a data limit of 0
// bytes, which shadowbox enforces at once, an enabled one has the wanted
// limit or none, and ExpiresAt is ignored (the bot disables on expiry). A
// key whose traffic (GET /metrics/transfer) reached its limit is reported
// disabled. RotateAccount deletes the key and makes it again under the
// same id and limit, so the server gives it a new password and the old
// ss:// URL stops working. Accounts pages the one key list by id.
//
// Limit wraps a Provisioner so that it makes at most n panel calls at once,
// however many goroutines call it: the load a worker puts on the panel.
//
// The package measures nothing and logs nothing: callers time each call and
// count its outcome by Name.
package vpn
