// Package keyserver answers Outline's dynamic access keys (pkg/ssconf).
//
// GET /k/{token} looks the token up among the users' accounts
// (vpn_accounts.link_token) and answers the account's current ss:// key as
// the JSON an Outline client reads: {"server", "server_port", "password",
// "method"}. It answers 404 to a token no account carries (unknown, or
// replaced by a new link), to an account whose user has no live access
// (their period was revoked, so the panel has the key disabled anyway), and
// to an account whose link is not an Outline key.
//
// The server keeps nothing: every answer is read from the database at the
// request, so any number of replicas serve the same answers, and a key the
// bot gave the account a moment ago (a new key after the panel lost one) is
// served at once. Answers are not cacheable: a revoked user's client must
// not keep a key. Tokens are credentials and are never logged.
package keyserver
