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
// Limit wraps a Provisioner so that it makes at most n panel calls at once,
// however many goroutines call it: the load a worker puts on the panel.
//
// The package measures nothing and logs nothing: callers time each call and
// count its outcome by Name.
package vpn
