package telegram_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// valid is a valid update and what routing reads of it.
type valid struct {
	name string
	raw  string
	want telegram.UpdateMeta
}

// updates are shaped like what the Bot API sends, one per update kind that
// names a chat or a user; each is routed by the chat and the sender
// telebot's context gives the bot, none for the kinds telebot does not read.
var updates = []valid{
	{"message", `{"update_id":10001,"message":{"message_id":5,"from":{"id":111,"is_bot":false,"first_name":"Ann","language_code":"en"},"chat":{"id":111,"first_name":"Ann","type":"private"},"date":1700000000,"text":"/start","entities":[{"offset":0,"length":6,"type":"bot_command"}]}}`,
		telegram.UpdateMeta{UpdateID: 10001, ChatID: 111, UserID: 111}},
	{"group message", `{"update_id":10002,"message":{"message_id":6,"from":{"id":111,"is_bot":false,"first_name":"Ann"},"chat":{"id":-1001234567890,"title":"G","type":"supergroup"},"date":1700000000,"text":"hi"}}`,
		telegram.UpdateMeta{UpdateID: 10002, ChatID: -1001234567890, UserID: 111}},
	{"edited_message", `{"update_id":10003,"edited_message":{"message_id":5,"from":{"id":112,"is_bot":false,"first_name":"B"},"chat":{"id":112,"type":"private"},"date":1700000000,"edit_date":1700000100,"text":"x"}}`,
		telegram.UpdateMeta{UpdateID: 10003, ChatID: 112, UserID: 112}},
	{"channel_post", `{"update_id":10004,"channel_post":{"message_id":1,"sender_chat":{"id":-100777,"type":"channel"},"chat":{"id":-100777,"title":"C","type":"channel"},"date":1700000000,"text":"news"}}`,
		telegram.UpdateMeta{UpdateID: 10004, ChatID: -100777}},
	{"edited_channel_post", `{"update_id":10005,"edited_channel_post":{"message_id":1,"chat":{"id":-100778,"type":"channel"},"date":1700000000,"text":"news"}}`,
		telegram.UpdateMeta{UpdateID: 10005, ChatID: -100778}},
	{"business_connection", `{"update_id":10006,"business_connection":{"id":"bc1","user":{"id":113,"is_bot":false,"first_name":"C"},"user_chat_id":113,"date":1700000000,"is_enabled":true}}`,
		telegram.UpdateMeta{UpdateID: 10006}},
	{"business_message", `{"update_id":10007,"business_message":{"message_id":2,"business_connection_id":"bc1","from":{"id":114,"is_bot":false,"first_name":"D"},"chat":{"id":115,"type":"private"},"date":1700000000,"text":"x"}}`,
		telegram.UpdateMeta{UpdateID: 10007}},
	{"edited_business_message", `{"update_id":10008,"edited_business_message":{"message_id":2,"from":{"id":114,"is_bot":false,"first_name":"D"},"chat":{"id":116,"type":"private"},"date":1700000000,"text":"y"}}`,
		telegram.UpdateMeta{UpdateID: 10008}},
	{"deleted_business_messages", `{"update_id":10009,"deleted_business_messages":{"business_connection_id":"bc1","chat":{"id":117,"type":"private"},"message_ids":[1,2]}}`,
		telegram.UpdateMeta{UpdateID: 10009}},
	{"callback_query", `{"update_id":10010,"callback_query":{"id":"4382bfdwdsb323b2d9","from":{"id":118,"is_bot":false,"first_name":"E"},"message":{"message_id":7,"from":{"id":999,"is_bot":true,"first_name":"vpnbot"},"chat":{"id":119,"type":"private"},"date":1700000000,"text":"Pick a plan"},"chat_instance":"-123","data":"plan:1m"}}`,
		telegram.UpdateMeta{UpdateID: 10010, ChatID: 119, UserID: 118}},
	{"inaccessible callback message", `{"update_id":10011,"callback_query":{"id":"q2","from":{"id":120,"is_bot":false,"first_name":"F"},"message":{"chat":{"id":120,"type":"private"},"message_id":8,"date":0},"chat_instance":"-1","data":"x"}}`,
		telegram.UpdateMeta{UpdateID: 10011, ChatID: 120, UserID: 120}},
	{"inline callback_query", `{"update_id":10012,"callback_query":{"id":"q3","from":{"id":121,"is_bot":false,"first_name":"G"},"inline_message_id":"AAA","chat_instance":"-1","data":"x"}}`,
		telegram.UpdateMeta{UpdateID: 10012, UserID: 121}},
	{"inline_query", `{"update_id":10013,"inline_query":{"id":"iq","from":{"id":122,"is_bot":false,"first_name":"H"},"query":"vpn","offset":"","chat_type":"sender"}}`,
		telegram.UpdateMeta{UpdateID: 10013, UserID: 122}},
	{"chosen_inline_result", `{"update_id":10014,"chosen_inline_result":{"result_id":"r1","from":{"id":123,"is_bot":false,"first_name":"I"},"query":"vpn"}}`,
		telegram.UpdateMeta{UpdateID: 10014, UserID: 123}},
	{"shipping_query", `{"update_id":10015,"shipping_query":{"id":"sq","from":{"id":124,"is_bot":false,"first_name":"J"},"invoice_payload":"p","shipping_address":{"country_code":"DE","state":"","city":"Berlin","street_line1":"a","street_line2":"","post_code":"1"}}}`,
		telegram.UpdateMeta{UpdateID: 10015, UserID: 124}},
	{"pre_checkout_query", `{"update_id":10016,"pre_checkout_query":{"id":"pcq","from":{"id":125,"is_bot":false,"first_name":"K"},"currency":"XTR","total_amount":100,"invoice_payload":"order:42"}}`,
		telegram.UpdateMeta{UpdateID: 10016, UserID: 125}},
	{"purchased_paid_media", `{"update_id":10017,"purchased_paid_media":{"from":{"id":126,"is_bot":false,"first_name":"L"},"paid_media_payload":"p"}}`,
		telegram.UpdateMeta{UpdateID: 10017}},
	{"poll_answer", `{"update_id":10018,"poll_answer":{"poll_id":"p1","user":{"id":127,"is_bot":false,"first_name":"M"},"option_ids":[0]}}`,
		telegram.UpdateMeta{UpdateID: 10018, UserID: 127}},
	{"my_chat_member", `{"update_id":10019,"my_chat_member":{"chat":{"id":128,"first_name":"N","type":"private"},"from":{"id":128,"is_bot":false,"first_name":"N"},"date":1700000000,"old_chat_member":{"user":{"id":999,"is_bot":true,"first_name":"vpnbot"},"status":"member"},"new_chat_member":{"user":{"id":999,"is_bot":true,"first_name":"vpnbot"},"status":"kicked","until_date":0}}}`,
		telegram.UpdateMeta{UpdateID: 10019, ChatID: 128, UserID: 128}},
	{"chat_member", `{"update_id":10020,"chat_member":{"chat":{"id":-100200,"type":"supergroup"},"from":{"id":129,"is_bot":false,"first_name":"O"},"date":1700000000,"old_chat_member":{"user":{"id":130,"is_bot":false,"first_name":"P"},"status":"left"},"new_chat_member":{"user":{"id":130,"is_bot":false,"first_name":"P"},"status":"member"}}}`,
		telegram.UpdateMeta{UpdateID: 10020, ChatID: -100200, UserID: 129}},
	{"chat_join_request", `{"update_id":10021,"chat_join_request":{"chat":{"id":-100201,"type":"supergroup"},"from":{"id":131,"is_bot":false,"first_name":"Q"},"user_chat_id":131,"date":1700000000}}`,
		telegram.UpdateMeta{UpdateID: 10021, ChatID: -100201, UserID: 131}},
	{"message_reaction", `{"update_id":10022,"message_reaction":{"chat":{"id":-100202,"type":"group"},"message_id":3,"user":{"id":132,"is_bot":false,"first_name":"R"},"date":1700000000,"old_reaction":[],"new_reaction":[{"type":"emoji","emoji":"👍"}]}}`,
		telegram.UpdateMeta{UpdateID: 10022}},
	{"chat_boost", `{"update_id":10024,"chat_boost":{"chat":{"id":-100204,"type":"channel"},"boost":{"boost_id":"b","add_date":1,"expiration_date":2,"source":{"source":"premium","user":{"id":133,"is_bot":false,"first_name":"S"}}}}}`,
		telegram.UpdateMeta{UpdateID: 10024, UserID: 133}},
	{"removed_chat_boost", `{"update_id":10025,"removed_chat_boost":{"chat":{"id":-100205,"type":"channel"},"boost_id":"b","remove_date":3,"source":{"source":"premium","user":{"id":134,"is_bot":false,"first_name":"T"}}}}`,
		telegram.UpdateMeta{UpdateID: 10025, UserID: 134}},
	{"poll without chat or user", `{"update_id":10026,"poll":{"id":"p1","question":"?","options":[],"total_voter_count":0,"is_closed":true,"is_anonymous":true,"type":"regular","allows_multiple_answers":false}}`,
		telegram.UpdateMeta{UpdateID: 10026}},
	{"unknown kind", `{"update_id":10027,"something_new":{"chat":{"id":5}}}`,
		telegram.UpdateMeta{UpdateID: 10027}},
	{"largest update id, whitespace around", " \n{\"update_id\":9223372036854775807}\n",
		telegram.UpdateMeta{UpdateID: 9223372036854775807}},
}

// deepest is the deepest update we could build from the Bot API's types
// (see MaxUpdateDepth): 12 levels down to the user of the mention.
const deepest = `{"update_id":20001,"callback_query":{"id":"q","from":{"id":7,"is_bot":false,"first_name":"A"},"chat_instance":"1","data":"menu",` +
	`"message":{"message_id":9,"from":{"id":999,"is_bot":true,"first_name":"vpnbot"},"chat":{"id":7,"type":"private"},"date":1700000000,"text":"Menu",` +
	`"reply_markup":{"inline_keyboard":[[{"text":"Open","web_app":{"url":"https://example.org"}}]]},` +
	`"reply_to_message":{"message_id":8,"chat":{"id":7,"type":"private"},"date":1700000000,` +
	`"pinned_message":{"message_id":5,"chat":{"id":7,"type":"private"},"date":1700000000,` +
	`"external_reply":{"origin":{"type":"user","date":1700000000,"sender_user":{"id":8,"is_bot":false,"first_name":"B"}},"message_id":3,` +
	`"poll":{"id":"p","question":"Which?","options":[{"text":"@ann","voter_count":1,` +
	`"text_entities":[{"type":"text_mention","offset":0,"length":4,"user":{"id":9,"is_bot":false,"first_name":"Ann"}}]}],` +
	`"total_voter_count":1,"is_closed":false,"is_anonymous":true,"type":"regular","allows_multiple_answers":false}}}}}}}`

// nested is an update whose objects and arrays nest depth levels.
func nested(depth int) string {
	return `{"update_id":1,"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
}

// manyKeys is an update whose message has n keys, k0 to k<n-1>, and then
// again the keys named in again.
func manyKeys(n int, again ...string) string {
	var b strings.Builder
	b.WriteString(`{"update_id":1,"message":{"chat":{"id":5}`)
	for i := range n {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	for _, k := range again {
		fmt.Fprintf(&b, `,%q:0`, k)
	}
	b.WriteString(`}}`)
	return b.String()
}

func TestDecodeUpdateFindsChatAndUser(t *testing.T) {
	t.Parallel()
	cases := append(slices.Clip(updates),
		valid{"the deepest real update", deepest, telegram.UpdateMeta{UpdateID: 20001, ChatID: 7, UserID: 7}},
		valid{"nested as deep as allowed", nested(telegram.MaxUpdateDepth), telegram.UpdateMeta{UpdateID: 1}},
		valid{"an object of many keys", manyKeys(200), telegram.UpdateMeta{UpdateID: 1, ChatID: 5}},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, got, err := telegram.DecodeUpdate([]byte(tc.raw))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.want.UpdateID, int64(u.ID), "the update is decoded along")
		})
	}
}

// refusals are bodies that are not valid updates, with why: among them the
// outside tester's cases, which the gateway used to store and the
// bot-handler then dead-lettered or misread.
var refusals = []struct {
	name, raw string
	want      error
}{
	{"empty", ``, telegram.ErrNotJSON},
	{"text", `hello`, telegram.ErrNotJSON},
	{"null", `null`, telegram.ErrNotJSON},
	{"array", `[{"update_id":1}]`, telegram.ErrNotJSON},
	{"truncated", `{"update_id":1,"message":{`, telegram.ErrNotJSON},
	{"trailing garbage", `{"update_id":1} {}`, telegram.ErrNotJSON},
	{"form body", `update_id=1`, telegram.ErrNotJSON},
	{"trailing comma", `{"update_id":1,}`, telegram.ErrNotJSON},
	{"bad escape", `{"update_id":1,"a":"\x"}`, telegram.ErrNotJSON},
	{"control character in a string", "{\"update_id\":1,\"a\":\"\t\"}", telegram.ErrNotJSON},
	{"leading zero", `{"update_id":01}`, telegram.ErrNotJSON},

	{"invalid UTF-8 in a text", "{\"update_id\":1,\"message\":{\"chat\":{\"id\":5},\"text\":\"caf\xe9\"}}", telegram.ErrInvalidUTF8},
	{"invalid UTF-8 in a key", "{\"update_id\":1,\"\xff\":1}", telegram.ErrInvalidUTF8},
	{"a surrogate half in UTF-8", "{\"update_id\":1,\"a\":\"\xed\xa0\x80\"}", telegram.ErrInvalidUTF8},

	{"update_id twice, a number then a string", `{"update_id":1,"message":{"chat":{"id":5}},"update_id":"2"}`, telegram.ErrDuplicateKey},
	{"update_id twice, equal", `{"update_id":1,"update_id":1}`, telegram.ErrDuplicateKey},
	{"a chat id twice, deep down", `{"update_id":1,"callback_query":{"message":{"chat":{"id":5,"type":"private","id":6}}}}`, telegram.ErrDuplicateKey},
	{"a key twice in an object in a list", `{"update_id":1,"message":{"entities":[{"type":"bold","type":"url"}]}}`, telegram.ErrDuplicateKey},
	{"keys differing only in case", `{"update_id":1,"Update_ID":2}`, telegram.ErrDuplicateKey},
	{"keys equal once unescaped", `{"update_id":1,"update\u005fid":2}`, telegram.ErrDuplicateKey},
	{"keys equal under Unicode case folding", `{"update_id":1,"message":{"from":{"id":5,"is_bot":false,"iſ_bot":true}}}`, telegram.ErrDuplicateKey},
	{"a key twice in a large object", manyKeys(200, "k3"), telegram.ErrDuplicateKey},
	{"a key twice past the small-object check", manyKeys(200, "k150"), telegram.ErrDuplicateKey},
	{"a key twice, both past the small-object check", manyKeys(200, "K199"), telegram.ErrDuplicateKey},

	{"one level too deep", nested(telegram.MaxUpdateDepth + 1), telegram.ErrTooDeep},
	{"deeper than encoding/json allows", nested(10001), telegram.ErrTooDeep},

	{"missing update_id", `{"message":{"chat":{"id":1}}}`, telegram.ErrNoUpdateID},
	{"zero", `{"update_id":0}`, telegram.ErrNoUpdateID},
	{"negative", `{"update_id":-5}`, telegram.ErrNoUpdateID},
	{"null update_id", `{"update_id":null}`, telegram.ErrNoUpdateID},
	{"update_id a string", `{"update_id":"5"}`, telegram.ErrNoUpdateID},
	{"update_id a fraction", `{"update_id":1.5}`, telegram.ErrNoUpdateID},
	{"update_id with an exponent", `{"update_id":1e3}`, telegram.ErrNoUpdateID},
	{"update_id past 64 bits", `{"update_id":9223372036854775808}`, telegram.ErrNoUpdateID},
	{"update_id an object", `{"update_id":{}}`, telegram.ErrNoUpdateID},

	{"chat id past float64", `{"update_id":1,"message":{"chat":{"id":1e400,"type":"private"},"from":{"id":5}}}`, telegram.ErrBadID},
	{"chat id a fraction", `{"update_id":1,"message":{"chat":{"id":1.5}}}`, telegram.ErrBadID},
	{"chat id a string", `{"update_id":1,"message":{"chat":{"id":"111"},"from":{"id":111}}}`, telegram.ErrBadID},
	{"chat id 2^63", `{"update_id":1,"message":{"chat":{"id":9223372036854775808}}}`, telegram.ErrBadID},
	{"user id past float64", `{"update_id":1,"callback_query":{"id":"q","from":{"id":1e400}}}`, telegram.ErrBadID},
	{"user id a string", `{"update_id":1,"pre_checkout_query":{"id":"q","from":{"id":"5"}}}`, telegram.ErrBadID},
	{"id of a replied-to sender", `{"update_id":1,"message":{"chat":{"id":5},"reply_to_message":{"from":{"id":-9223372036854775809}}}}`, telegram.ErrBadID},

	{"text a number", `{"update_id":1,"message":{"chat":{"id":5},"text":5}}`, telegram.ErrUndecodable},
	{"a message that is a list", `{"update_id":1,"message":[]}`, telegram.ErrUndecodable},
	{"a photo with no size (telebot panics on it)", `{"update_id":1,"message":{"chat":{"id":5},"photo":[]}}`, telegram.ErrUndecodable},
	// Telegram sends reactions as a list; telebot v3.3.8 reads one object.
	{"message_reaction_count", `{"update_id":10023,"message_reaction_count":{"chat":{"id":-100203,"type":"channel"},"message_id":3,"date":1700000000,"reactions":[{"type":{"type":"emoji","emoji":"👍"},"total_count":2}]}}`, telegram.ErrUndecodable},
}

func TestDecodeUpdateRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := telegram.DecodeUpdate([]byte(tc.raw))
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestDecodeUpdateErrorsSayWhereButNotWhat(t *testing.T) {
	t.Parallel()
	_, _, err := telegram.DecodeUpdate([]byte(`{"update_id":1,"message":{"chat":{"id":"private words"}}}`))
	require.ErrorIs(t, err, telegram.ErrBadID)
	require.Contains(t, err.Error(), "message.chat.id")
	require.NotContains(t, err.Error(), "private words")

	_, _, err = telegram.DecodeUpdate([]byte(`{"update_id":1,"message":{"private words":1,"private words":2}}`))
	require.ErrorIs(t, err, telegram.ErrDuplicateKey)
	require.Contains(t, err.Error(), "byte 44")
	require.NotContains(t, err.Error(), "private words")
}

func TestRoutingKeyPrefersChat(t *testing.T) {
	t.Parallel()
	require.Equal(t, int64(-100), telegram.UpdateMeta{UpdateID: 1, ChatID: -100, UserID: 7}.RoutingKey())
	require.Equal(t, int64(7), telegram.UpdateMeta{UpdateID: 1, UserID: 7}.RoutingKey())
	require.Equal(t, int64(0), telegram.UpdateMeta{UpdateID: 1}.RoutingKey())
}

// FuzzDecodeUpdate holds DecodeUpdate, which the gateway's webhook and
// poller and the bot-handler all call, to what the gateway stores and the
// handler decodes: it accepts a body exactly when the body passes a slow,
// obvious reading of the shape rules (wellFormed) and telebot decodes it as
// the bot-handler always has, with a positive update_id; what it returns is
// that decode, and its ids are the chat and sender the bot is given.
func FuzzDecodeUpdate(f *testing.F) {
	for _, tc := range updates {
		f.Add([]byte(tc.raw))
	}
	for _, tc := range refusals {
		if len(tc.raw) < 4096 {
			f.Add([]byte(tc.raw))
		}
	}
	for _, s := range []string{deepest, nested(telegram.MaxUpdateDepth), `{}`, `[]`, `{"update_id":1,"message":null}`,
		`{"update_id":1,"callback_query":{"message":{"chat":null},"from":{"id":2}}}`,
		`{"update_id":1,"\u212a":1,"k":2}`, `{"update_id":1,"a":"\ud800","b":{"\udc00":1,"\ud800":2}}`,
		// Where a decoder could part from encoding/json: folding a key to a
		// field, a float32's range, a surrogate half.
		`{"update_id":1,"message":{"chat":{"id":5},"from":{"id":7,"iſ_bot":"x"}}}`,
		`{"update_id":1,"message":{"chat":{"id":5},"location":{"latitude":1e39,"longitude":1}}}`,
		`{"update_id":1,"message":{"chat":{"id":5},"text":"\ud800x"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		u, meta, err := telegram.DecodeUpdate(raw)
		plain, decodes := decodeAsTelebot(raw)
		want := wellFormed(raw) && decodes && plain.ID > 0
		if err != nil {
			require.False(t, want, "refused %q, which is a valid update: %v", raw, err)
			for _, why := range []error{telegram.ErrNotJSON, telegram.ErrInvalidUTF8, telegram.ErrDuplicateKey, telegram.ErrTooDeep,
				telegram.ErrNoUpdateID, telegram.ErrBadID, telegram.ErrUndecodable} {
				if errors.Is(err, why) {
					return
				}
			}
			t.Fatalf("refused %q without a reason: %v", raw, err)
		}
		require.True(t, want, "accepted %q, which is not a valid update", raw)
		require.Equal(t, plain, u, "the update is telebot's decode of the body")
		require.Equal(t, int64(plain.ID), meta.UpdateID)
		c := (*tele.Bot)(nil).NewContext(plain)
		if chat := c.Chat(); chat != nil {
			require.Equal(t, chat.ID, meta.ChatID, "routed by another chat than the bot answers in")
		} else {
			require.Zero(t, meta.ChatID)
		}
		if user := c.Sender(); user != nil {
			require.Equal(t, user.ID, meta.UserID, "another user than the bot is given")
		} else {
			require.Zero(t, meta.UserID)
		}
		// Whitespace is not meaning: the compact form decodes the same.
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, raw))
		_, again, err := telegram.DecodeUpdate(compact.Bytes())
		require.NoError(t, err)
		require.Equal(t, meta, again)
	})
}

// decodeAsTelebot is how the bot-handler decoded an update before it shared
// DecodeUpdate with the gateway: encoding/json into telebot's Update.
func decodeAsTelebot(raw []byte) (u tele.Update, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return u, json.Unmarshal(raw, &u) == nil
}

// wellFormed is the slow, obvious reading of the rules on an update's shape:
// valid UTF-8, one JSON object, no deeper than MaxUpdateDepth, no object
// with two keys equal under case folding once unescaped (strings.EqualFold
// is how encoding/json matches a key to a field).
func wellFormed(raw []byte) bool {
	if !utf8.Valid(raw) || !json.Valid(raw) || !bytes.HasPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte("{")) {
		return false
	}
	type open struct {
		object, wantKey bool
		keys            []string
	}
	var stack []*open
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		if key, ok := tok.(string); ok && stack[len(stack)-1].object && stack[len(stack)-1].wantKey {
			top := stack[len(stack)-1]
			for _, k := range top.keys {
				if strings.EqualFold(k, key) {
					return false
				}
			}
			top.keys, top.wantKey = append(top.keys, key), false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == telegram.MaxUpdateDepth {
				return false
			}
			stack = append(stack, &open{object: tok == json.Delim('{'), wantKey: true})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				stack[len(stack)-1].wantKey = true
			}
		default:
			stack[len(stack)-1].wantKey = true
		}
	}
}

// BenchmarkDecodeUpdate is the gateway's per-request cost of checking and
// decoding an update, on the update `make bench` sends.
func BenchmarkDecodeUpdate(b *testing.B) {
	raw := []byte(`{"update_id":123456,"message":{"message_id":123456,"from":{"id":1000123,"is_bot":false,"first_name":"Load","username":"load_1000123","language_code":"en"},"chat":{"id":1000123,"first_name":"Load","username":"load_1000123","type":"private"},"date":1764250000,"text":"hello, how do I connect on Android?"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := telegram.DecodeUpdate(raw); err != nil {
			b.Fatal(err)
		}
	}
}
