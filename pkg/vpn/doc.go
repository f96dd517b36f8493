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
// XUI keeps accounts as the clients of one inbound of a 3x-ui panel (client
// email = account name, client id = ID, link = SubscriptionURL/subId). It
// logs in with a cookie session and tells the panel's line at each login,
// never from configuration: 2.8–2.9, 3.0 (a CSRF token) or 3.1 on (the CSRF
// token and /panel/api/clients/*). A lost session is logged in again once
// per call. Its errors never show the password, the web base path, a client
// id or a subId, which are all credentials.
//
// Errors say what kind of failure it was, with sentinels to test against:
// ErrUnavailable (panel down, 5xx, too slow: retry later), ErrUnauthorized
// (wrong token or secret path: an operator must fix the configuration),
// ErrUntrustedCertificate (the panel's certificate does not match) and
// ErrNotFound (the access is not on the panel). Neither the Outline API URL's
// secret path nor the Remnawave token ever appears in an error.
//
// The Remnawave adapter is a Panel on 2.x and 3.x panels alike (the API of
// github.com/remnawave/backend's libs/contract, read at 2.8.1 and 3.3.2):
// it asks the panel its version (GET /api/system/metadata) on first use and
// caches it, and follows the panel when a call shows it changed. Account
// ids are 3.x's numeric ids or 2.x's uuids; a Ref carrying a 2.x uuid on a
// 3.x panel is found by its name, which is how accesses recorded before an
// upgrade carry over. 3.x lists users by keyset pages (users/stream), 2.x
// by offset.
//
// Marzban is a vpn.Panel of a Marzban panel (0.8.x): the user
// "<prefix>_u<user id>" is the account and its ID, active only in status
// active; the adapter logs in with an admin's password for a token and logs
// in again, once, when the panel refuses it. The panel issues a new
// subscription URL with every answer, each valid until the subscription is
// revoked, so the adapter hands out the first it saw for the user's current
// credentials; RotateAccount revokes twice, a second apart, because the
// panel's tokens are kept to the second.
//
// Limit wraps a Provisioner so that it makes at most n panel calls at once,
// however many goroutines call it: the load a worker puts on the panel.
//
// The package measures nothing and logs nothing: callers time each call and
// count its outcome by Name.
package vpn
