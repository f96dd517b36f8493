package gateway

// Event names of the gateway's log lines, in addition to those of pkg/obs and
// pkg/bus.
const (
	// EventWebhookRejected: a webhook request was refused (reason:
	// no_secret_configured, no_secret, bad_secret, body_too_large,
	// unreadable_body, or why the body is not a valid update: not_json,
	// invalid_utf8, duplicate_key, too_deep, no_update_id, bad_id,
	// undecodable).
	EventWebhookRejected = "WEBHOOK_REJECTED"
	// EventPublishFailed: an update could not be stored in the stream; the
	// webhook answered 503 (Telegram retries) or the poller retries.
	EventPublishFailed = "PUBLISH_FAILED"
	// EventUpdatePublished: an update was stored (debug level).
	EventUpdatePublished = "UPDATE_PUBLISHED"
	// EventWebhookRegistered: setWebhook succeeded at start.
	EventWebhookRegistered = "WEBHOOK_REGISTERED"
	// EventWebhookRegisterFailed: registering the webhook failed; retrying.
	EventWebhookRegisterFailed = "WEBHOOK_REGISTER_FAILED"
	// EventWebhookDeleted: poll mode removed the webhook.
	EventWebhookDeleted = "WEBHOOK_DELETED"
	// EventPollFailed: a getUpdates call failed; retrying.
	EventPollFailed = "POLL_FAILED"
	// EventPollConflict: Telegram refused getUpdates because another consumer
	// polls the same bot or a webhook is set (poll mode must be one replica).
	EventPollConflict = "POLL_CONFLICT"
	// EventUpdateMalformed: a polled update was not a valid update
	// (telegram.DecodeUpdate) and was skipped.
	EventUpdateMalformed = "UPDATE_MALFORMED"
)
