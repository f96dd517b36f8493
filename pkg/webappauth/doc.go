// Package webappauth checks what Telegram signs for a web page acting for
// one of the bot's users: the initData a Mini App is opened with
// (Telegram.WebApp.initData), and the data the Telegram Login Widget hands a
// page on the open web. Both are a URL-encoded list of fields with a hash:
// the hex HMAC-SHA256 of the data-check-string (every field but hash,
// sorted by key, "key=value" joined by "\n") under a key only Telegram and
// the bot know, derived from the bot token:
//
//   - Mini App: HMAC-SHA256 with key "WebAppData" of the bot token;
//   - Login Widget: SHA-256 of the bot token.
//
// The hash proves who the user is and when Telegram said so (auth_date),
// nothing more: a signed value can be replayed by whoever holds it, so a
// Verifier refuses one older than its window (default 24 h) and the caller
// turns an accepted one into a short session of its own at once.
//
// The two keys differ, so data signed for one can never pass as the other.
// Sign and SignLogin make what Telegram would send, for tests and for the
// sandbox's web chat, which opens the Mini App as Telegram would.
package webappauth
