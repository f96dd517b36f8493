// Package ssconf is Outline's dynamic access keys, both ends of them: the
// link a user imports once, ssconf://<key server>/k/<token>#<label>, which
// the shop hands out for an Outline account (Settings.Link), and the
// configuration the key server answers it with, read from the account's
// ss:// key (ParseKey): {"server", "server_port", "password", "method"}.
//
// The Outline client fetches a dynamic key over HTTPS (ssconf:// names the
// https:// URL), each time it connects, so the key behind a link can change
// while the link stays the user's: a key the panel lost and the bot made
// again needs no new import. The token is the account's (vpn_accounts
// link_token); the key server knows only tokens, and a new link (rotation)
// is a new token.
package ssconf
