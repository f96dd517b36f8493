package telegram

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/tidwall/gjson"
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

// kinds are the update fields that name a chat or a user. A real update
// carries exactly one of them; for anything else the first one found in the
// body decides.
var kinds = map[string]bool{
	"message": true, "edited_message": true, "channel_post": true, "edited_channel_post": true,
	"business_connection": true, "business_message": true, "edited_business_message": true,
	"deleted_business_messages": true, "message_reaction": true, "message_reaction_count": true,
	"inline_query": true, "chosen_inline_result": true, "callback_query": true, "shipping_query": true,
	"pre_checkout_query": true, "purchased_paid_media": true, "poll_answer": true, "my_chat_member": true,
	"chat_member": true, "chat_join_request": true, "chat_boost": true, "removed_chat_boost": true,
}

// ParseUpdate decodes only what routing needs from a raw update. It fails
// (wrapping ErrNotJSON or ErrNoUpdateID) when raw is not a JSON object or has
// no positive integer update_id. Anything else it does not understand — an
// unknown update kind, a chat id of the wrong type — leaves ChatID and UserID
// zero rather than failing: the update is still worth delivering, and the
// handler that decodes it fully decides what it means.
//
// The gateway parses every update it stores, so this reads the body with
// gjson in a couple of passes and no allocations, rather than decoding it.
func ParseUpdate(raw []byte) (UpdateMeta, error) {
	if !gjson.ValidBytes(raw) {
		return UpdateMeta{}, ErrNotJSON
	}
	root := gjson.ParseBytes(raw)
	if !root.IsObject() {
		return UpdateMeta{}, ErrNotJSON
	}
	var meta UpdateMeta
	var id, kind gjson.Result
	root.ForEach(func(key, value gjson.Result) bool {
		switch {
		case key.Str == "update_id" && !id.Exists():
			id = value
		case kinds[key.Str] && !kind.Exists():
			kind = value
		}
		return !id.Exists() || !kind.Exists()
	})
	if !id.Exists() {
		return UpdateMeta{}, fmt.Errorf("%w: field missing", ErrNoUpdateID)
	}
	if meta.UpdateID = integer(id); meta.UpdateID <= 0 {
		return UpdateMeta{}, fmt.Errorf("%w: got %.32s", ErrNoUpdateID, id.Raw)
	}
	meta.ChatID, meta.UserID = ids(kind)
	return meta, nil
}

// integer is r as an int64 when it is an integer literal that fits (no
// fraction, exponent, string or overflow), else 0.
func integer(r gjson.Result) int64 {
	if r.Type != gjson.Number {
		return 0
	}
	n, err := strconv.ParseInt(r.Raw, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// ids returns the chat and user an update kind names: messages and member
// updates have chat and from; queries have from; poll_answer and
// message_reaction have user; a callback_query has the chat of its message.
// A value of the wrong type counts as absent.
func ids(kind gjson.Result) (chatID, userID int64) {
	if !kind.IsObject() {
		return 0, 0
	}
	chatID = integer(kind.Get("chat.id"))
	if chatID == 0 {
		chatID = integer(kind.Get("message.chat.id"))
	}
	userID = integer(kind.Get("from.id"))
	if userID == 0 {
		userID = integer(kind.Get("user.id"))
	}
	return chatID, userID
}
