// Package botapi is the gateway's small Telegram Bot API client: the four
// methods it needs to receive updates (getWebhookInfo, setWebhook,
// deleteWebhook, getUpdates), over plain net/http.
//
// The bot token is part of every Bot API URL, and Go's HTTP client puts the
// URL into its errors. This client never lets such an error out: transport
// errors are unwrapped from *url.Error and reported by method name, so an
// error can be logged as is.
package botapi
