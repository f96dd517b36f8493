package telegram

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Sentinel errors of ParseUpdate, wrapped with details.
var (
	// ErrNotJSON means the body is not a JSON object.
	ErrNotJSON = errors.New("update is not a JSON object")
	// ErrNoUpdateID means the object has no positive integer update_id.
	ErrNoUpdateID = errors.New("update has no positive integer update_id")
)

// UpdateMeta is what routing needs from a raw update.
type UpdateMeta struct {
	UpdateID int64
	ChatID   int64
	UserID   int64
}

// RoutingKey is the key an update is partitioned by: ChatID if known, else
// UserID, else 0, so that all updates without a chat or user share one
// partition.
func (m UpdateMeta) RoutingKey() int64 {
	if m.ChatID != 0 {
		return m.ChatID
	}
	return m.UserID
}

// updateKinds are the update fields that name a chat or a user, in the order
// they are looked at. A real update carries exactly one of them; the fixed
// order keeps the result deterministic for anything else.
var updateKinds = [...]string{
	"message",
	"edited_message",
	"channel_post",
	"edited_channel_post",
	"business_connection",
	"business_message",
	"edited_business_message",
	"deleted_business_messages",
	"message_reaction",
	"message_reaction_count",
	"inline_query",
	"chosen_inline_result",
	"callback_query",
	"shipping_query",
	"pre_checkout_query",
	"purchased_paid_media",
	"poll_answer",
	"my_chat_member",
	"chat_member",
	"chat_join_request",
	"chat_boost",
	"removed_chat_boost",
}

type idOnly struct {
	ID int64 `json:"id"`
}

// party is the union of the fields by which the update kinds above name their
// chat and user: messages and member updates have chat and from; queries have
// from; poll_answer and message_reaction have user; a callback_query has the
// chat of its message.
type party struct {
	Chat    *idOnly `json:"chat"`
	From    *idOnly `json:"from"`
	User    *idOnly `json:"user"`
	Message *struct {
		Chat *idOnly `json:"chat"`
	} `json:"message"`
}

// ParseUpdate decodes only what routing needs from a raw update. It fails
// (wrapping ErrNotJSON or ErrNoUpdateID) when raw is not a JSON object or has
// no positive integer update_id. Anything else it does not understand — an
// unknown update kind, a chat id of the wrong type — leaves ChatID and UserID
// zero rather than failing: the update is still worth delivering, and the
// handler that decodes it fully decides what it means.
func ParseUpdate(raw []byte) (UpdateMeta, error) {
	var fields map[string]json.RawMessage
	// A JSON null decodes into a nil map without error, hence the first-byte check.
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return UpdateMeta{}, ErrNotJSON
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return UpdateMeta{}, fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	var meta UpdateMeta
	idRaw, ok := fields["update_id"]
	if !ok {
		return UpdateMeta{}, fmt.Errorf("%w: field missing", ErrNoUpdateID)
	}
	// Unmarshalling into int64 rejects fractions, exponents, strings and overflow.
	if err := json.Unmarshal(idRaw, &meta.UpdateID); err != nil || meta.UpdateID <= 0 {
		return UpdateMeta{}, fmt.Errorf("%w: got %.32s", ErrNoUpdateID, idRaw)
	}
	meta.ChatID, meta.UserID = locate(fields)
	return meta, nil
}

// locate returns the chat and user of the first update kind present in fields.
func locate(fields map[string]json.RawMessage) (chatID, userID int64) {
	for _, kind := range updateKinds {
		body, ok := fields[kind]
		if !ok {
			continue
		}
		var p party
		if json.Unmarshal(body, &p) != nil {
			return 0, 0
		}
		switch {
		case p.Chat != nil:
			chatID = p.Chat.ID
		case p.Message != nil && p.Message.Chat != nil:
			chatID = p.Message.Chat.ID
		}
		switch {
		case p.From != nil:
			userID = p.From.ID
		case p.User != nil:
			userID = p.User.ID
		}
		return chatID, userID
	}
	return 0, 0
}
