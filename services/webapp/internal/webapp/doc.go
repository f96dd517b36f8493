// Package webapp is the user's cabinet: one page (static/, no framework)
// and the JSON API it reads, served to Telegram's Mini App view and to the
// open web.
//
// Who a request acts for is decided once, from what Telegram signed: POST
// /api/session takes a Mini App's raw initData, POST /api/session/login the
// Login Widget's data (pkg/webappauth checks both), and answers a session
// cookie and a CSRF token. On the open web, GET /login shows the widget
// (under its own policy, which lets Telegram's script run there and
// nowhere else), which sends the browser back to /login/done, the page,
// with its data; GET /api/session gives a reloaded page its token again. The session is stateless: the user id and an
// expiry with their HMAC, under a key derived from the bot token with a
// label of its own, so any replica accepts it and nothing is stored. It is
// HttpOnly, Secure, SameSite=None and Partitioned, because Telegram's web
// client frames the page from another site; SameSite=None protects no
// write, so every write also carries the CSRF token (the HMAC of the
// session under another derived key) in X-CSRF-Token, which a page of
// another site cannot read.
//
// Every API handler gets the session's user id and no other: nothing a
// client sends (query, body, header) names a user. A user the shop does
// not know (they never started the bot) is told to open the bot first; a
// banned one is refused, at each request, so a ban takes effect at once.
//
// Reads go to PostgreSQL through pkg/shop's functions, as the bot's screens
// read; the one write, ordering a plan with Crypto Pay, is
// shop.CryptoPayOrder with the bot's invoice (payload, description), so the
// order is on offer once per user and plan, whichever of the bot and the
// app asks, and the payment-watcher confirms it as any other.
//
// Requests are limited per address and per user (token buckets kept for
// the most recently seen), bodies are bounded, errors are JSON
// ({"error": code, "message": text}), and the page runs under a strict
// Content-Security-Policy: its own script and style only.
package webapp
