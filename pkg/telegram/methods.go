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

// Statuses of a ChatMember, as Telegram names them.
const (
	MemberCreator       = "creator"
	MemberAdministrator = "administrator"
	MemberMember        = "member"
	MemberRestricted    = "restricted"
	MemberLeft          = "left"
	MemberKicked        = "kicked"
)

// ChatMember is the part of a ChatMember object (getChatMember's answer)
// the services read.
type ChatMember struct {
	Status string `json:"status"`
	// IsMember is set only with MemberRestricted: whether the restricted
	// user is still in the chat.
	IsMember bool `json:"is_member"`
}

// Joined reports whether the user is in the chat: its creator, an
// administrator, a member, or a restricted user who is still a member. A
// user who left, was banned, or is restricted outside the chat is not.
func (m ChatMember) Joined() bool {
	switch m.Status {
	case MemberCreator, MemberAdministrator, MemberMember:
		return true
	case MemberRestricted:
		return m.IsMember
	}
	return false
}

// GetChatMember asks Telegram what user userID is in chat, a "@username"
// or a numeric chat id such as "-1001234567890". For a channel, the bot
// must be one of its administrators: otherwise Telegram answers 400
// "member list is inaccessible".
func (c *Client) GetChatMember(ctx context.Context, chat string, userID int64) (ChatMember, error) {
	var m ChatMember
	err := c.Call(ctx, "getChatMember", struct {
		ChatID string `json:"chat_id"`
		UserID int64  `json:"user_id"`
	}{chat, userID}, &m)
	if err != nil {
		return ChatMember{}, err
	}
	if m.Status == "" {
		return ChatMember{}, errors.New("telegram getChatMember answered without a status")
	}
	return m, nil
}
