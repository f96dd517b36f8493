package telegram

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
	tele "gopkg.in/telebot.v3"
)

// MaxUpdateDepth bounds how deeply an update may nest objects and arrays;
// the update object itself is at depth 1. The deepest update we could build
// from the Bot API's types nests 12 levels: a button press (callback_query)
// on a message that replies to a pinned message whose external reply is a
// poll with a mention in an option's text (callback_query → message →
// reply_to_message → pinned_message → external_reply → poll → options → an
// option → text_entities → an entity → user). Telegram cuts such chains
// itself (a reply_to_message holds no further reply_to_message), so real
// updates do not grow deeper; 32 leaves room for fields Telegram may add and
// is far below the 10,000 at which encoding/json gives up.
const MaxUpdateDepth = 32

// Why DecodeUpdate refuses an update, wrapped with where in the body.
var (
	// ErrNotJSON means the body is not one JSON object.
	ErrNotJSON = errors.New("update is not a JSON object")
	// ErrInvalidUTF8 means the body is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("update is not valid UTF-8")
	// ErrDuplicateKey means an object, at any depth, has two keys that name
	// the same field: equal once unescaped and case-folded, as encoding/json
	// matches keys to fields.
	ErrDuplicateKey = errors.New("update has a duplicated key")
	// ErrTooDeep means the body nests deeper than MaxUpdateDepth.
	ErrTooDeep = errors.New("update nests too deeply")
	// ErrNoUpdateID means the object has no update_id that is a positive
	// 64-bit integer.
	ErrNoUpdateID = errors.New("update has no positive integer update_id")
	// ErrBadID means a chat or user id is not a 64-bit integer.
	ErrBadID = errors.New("update has an id that is not a 64-bit integer")
	// ErrUndecodable means a field does not have the type telebot decodes it
	// as (a text that is a number, a list where an object belongs).
	ErrUndecodable = errors.New("update does not decode as a Telegram update")
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

// DecodeUpdate is the one definition of a valid update, shared by the
// gateway (which stores only what it accepts) and the bot-handler (which
// handles only what it accepts). raw is valid when it is a JSON object in
// valid UTF-8, no object in it has a duplicated key, it nests no deeper than
// MaxUpdateDepth, its update_id is a positive 64-bit integer, and it decodes
// into telebot's Update: so every chat and user id telebot reads is a 64-bit
// integer (1e400, 1.5, "1" and 2^63 are not), and every other field telebot
// reads has the type it expects. Fields and update kinds telebot does not
// know are ignored, as telebot ignores them.
//
// The meta's ChatID and UserID are the chat and the sender telebot's context
// gives the bot for the update (0 when it gives none), so an update is
// partitioned by the chat the bot answers in.
//
// It fails with an error wrapping one of the Err values above.
func DecodeUpdate(raw []byte) (tele.Update, UpdateMeta, error) {
	if !utf8.Valid(raw) {
		return tele.Update{}, UpdateMeta{}, ErrInvalidUTF8
	}
	if err := checkShape(raw); err != nil {
		return tele.Update{}, UpdateMeta{}, err
	}
	var u tele.Update
	if err := unmarshal(raw, &u); err != nil {
		return tele.Update{}, UpdateMeta{}, err
	}
	if u.ID <= 0 {
		return tele.Update{}, UpdateMeta{}, fmt.Errorf("%w: got %d", ErrNoUpdateID, u.ID)
	}
	meta := UpdateMeta{UpdateID: int64(u.ID)}
	// The context the bot-handler's telebot makes of u; Chat and Sender read
	// only the update, so no bot is needed.
	c := (*tele.Bot)(nil).NewContext(u)
	if chat := c.Chat(); chat != nil {
		meta.ChatID = chat.ID
	}
	if user := c.Sender(); user != nil {
		meta.UserID = user.ID
	}
	return u, meta, nil
}

// unmarshal decodes raw, already checked by checkShape, and names the field
// that does not fit. It decodes with segmentio/encoding/json, a drop-in for
// encoding/json (which the bot-handler decoded updates with before it shared
// this with the gateway) at about a fifth of the cost, which the gateway
// pays on every update; FuzzDecodeUpdate holds the two to the same result.
func unmarshal(raw []byte, u *tele.Update) (err error) {
	// telebot's own decoders panic on shapes Telegram never sends (a photo
	// that is an empty list): such a body is undecodable, not a crash.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: telebot panicked: %v", ErrUndecodable, p)
		}
	}()
	err = json.Unmarshal(raw, u)
	if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		why := ErrUndecodable
		switch {
		case typeErr.Field == "update_id":
			why = ErrNoUpdateID
		case strings.HasSuffix(typeErr.Field, ".id") && typeErr.Type.Kind() == reflect.Int64:
			why = ErrBadID
		}
		return fmt.Errorf("%w: %s does not fit %s", why, typeErr.Field, typeErr.Type)
	}
	if err != nil {
		// One of telebot's own decoders (a photo's) refused its part.
		return fmt.Errorf("%w: %w", ErrUndecodable, err)
	}
	return nil
}
