package telegram

import (
	"context"
	"encoding/json"
	"errors"
)

// WebhookInfo is the part of getWebhookInfo's answer the gateway compares
// and reports.
type WebhookInfo struct {
	URL                string   `json:"url"`
	PendingUpdateCount int      `json:"pending_update_count"`
	MaxConnections     int      `json:"max_connections"`
	AllowedUpdates     []string `json:"allowed_updates"`
	LastErrorDate      int64    `json:"last_error_date"`
	LastErrorMessage   string   `json:"last_error_message"`
}

// GetWebhookInfo reports the webhook Telegram currently delivers to.
func (c *Client) GetWebhookInfo(ctx context.Context) (WebhookInfo, error) {
	var info WebhookInfo
	err := c.Call(ctx, "getWebhookInfo", struct{}{}, &info)
	return info, err
}

// SetWebhookParams are the parameters of setWebhook the gateway uses.
type SetWebhookParams struct {
	URL            string   `json:"url"`
	SecretToken    string   `json:"secret_token,omitempty"`
	AllowedUpdates []string `json:"allowed_updates"`
	MaxConnections int      `json:"max_connections,omitempty"`
	// DropPendingUpdates is always sent, false, so that re-registering never
	// loses updates waiting at Telegram.
	DropPendingUpdates bool `json:"drop_pending_updates"`
}

// SetWebhook makes Telegram deliver updates to p.URL.
func (c *Client) SetWebhook(ctx context.Context, p SetWebhookParams) error {
	return c.Call(ctx, "setWebhook", p, nil)
}

// DeleteWebhook stops webhook delivery so getUpdates may be used; pending
// updates are dropped only when dropPending is true.
func (c *Client) DeleteWebhook(ctx context.Context, dropPending bool) error {
	return c.Call(ctx, "deleteWebhook", struct {
		DropPendingUpdates bool `json:"drop_pending_updates"`
	}{dropPending}, nil)
}

// GetUpdatesParams are the parameters of getUpdates.
type GetUpdatesParams struct {
	// Offset confirms every update with a smaller id.
	Offset int64 `json:"offset,omitempty"`
	Limit  int   `json:"limit,omitempty"`
	// Timeout is the long-poll time in seconds; the call's context must
	// allow a little more.
	Timeout        int      `json:"timeout"`
	AllowedUpdates []string `json:"allowed_updates,omitempty"`
}

// GetUpdates long-polls for updates, returning each exactly as Telegram sent
// it (the bytes are what the gateway publishes).
func (c *Client) GetUpdates(ctx context.Context, p GetUpdatesParams) ([]json.RawMessage, error) {
	var updates []json.RawMessage
	err := c.Call(ctx, "getUpdates", p, &updates)
	return updates, err
}

// User is the part of a Telegram user the services read.
type User struct {
	ID       int64  `json:"id"`
	IsBot    bool   `json:"is_bot"`
	Username string `json:"username"`
}

// GetMe asks Telegram who the bot is.
func (c *Client) GetMe(ctx context.Context) (User, error) {
	var u User
	if err := c.Call(ctx, "getMe", struct{}{}, &u); err != nil {
		return User{}, err
	}
	if u.ID == 0 {
		return User{}, errors.New("telegram getMe answered without a bot")
	}
	return u, nil
}
