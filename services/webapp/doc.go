// Command webapp is the user's cabinet: a Telegram Mini App (and the same
// page on the open web, signed in with the Telegram Login Widget) that shows
// a user their subscription, key, plans, payments and invite link, and
// orders a plan with Crypto Pay through the shop's own code; see
// internal/webapp. It is stateless: sessions are signed cookies, and every
// answer is read from the database at the request.
package main
