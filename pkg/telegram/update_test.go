package telegram_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// updates are shaped like what the Bot API sends, one per update kind that
// names a chat or a user.
var updates = []struct {
	name string
	raw  string
	want telegram.UpdateMeta
}{
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
		telegram.UpdateMeta{UpdateID: 10006, UserID: 113}},
	{"business_message", `{"update_id":10007,"business_message":{"message_id":2,"business_connection_id":"bc1","from":{"id":114,"is_bot":false,"first_name":"D"},"chat":{"id":115,"type":"private"},"date":1700000000,"text":"x"}}`,
		telegram.UpdateMeta{UpdateID: 10007, ChatID: 115, UserID: 114}},
	{"edited_business_message", `{"update_id":10008,"edited_business_message":{"message_id":2,"from":{"id":114,"is_bot":false,"first_name":"D"},"chat":{"id":116,"type":"private"},"date":1700000000,"text":"y"}}`,
		telegram.UpdateMeta{UpdateID: 10008, ChatID: 116, UserID: 114}},
	{"deleted_business_messages", `{"update_id":10009,"deleted_business_messages":{"business_connection_id":"bc1","chat":{"id":117,"type":"private"},"message_ids":[1,2]}}`,
		telegram.UpdateMeta{UpdateID: 10009, ChatID: 117}},
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
		telegram.UpdateMeta{UpdateID: 10017, UserID: 126}},
	{"poll_answer", `{"update_id":10018,"poll_answer":{"poll_id":"p1","user":{"id":127,"is_bot":false,"first_name":"M"},"option_ids":[0]}}`,
		telegram.UpdateMeta{UpdateID: 10018, UserID: 127}},
	{"my_chat_member", `{"update_id":10019,"my_chat_member":{"chat":{"id":128,"first_name":"N","type":"private"},"from":{"id":128,"is_bot":false,"first_name":"N"},"date":1700000000,"old_chat_member":{"user":{"id":999,"is_bot":true,"first_name":"vpnbot"},"status":"member"},"new_chat_member":{"user":{"id":999,"is_bot":true,"first_name":"vpnbot"},"status":"kicked","until_date":0}}}`,
		telegram.UpdateMeta{UpdateID: 10019, ChatID: 128, UserID: 128}},
	{"chat_member", `{"update_id":10020,"chat_member":{"chat":{"id":-100200,"type":"supergroup"},"from":{"id":129,"is_bot":false,"first_name":"O"},"date":1700000000,"old_chat_member":{"user":{"id":130,"is_bot":false,"first_name":"P"},"status":"left"},"new_chat_member":{"user":{"id":130,"is_bot":false,"first_name":"P"},"status":"member"}}}`,
		telegram.UpdateMeta{UpdateID: 10020, ChatID: -100200, UserID: 129}},
	{"chat_join_request", `{"update_id":10021,"chat_join_request":{"chat":{"id":-100201,"type":"supergroup"},"from":{"id":131,"is_bot":false,"first_name":"Q"},"user_chat_id":131,"date":1700000000}}`,
		telegram.UpdateMeta{UpdateID: 10021, ChatID: -100201, UserID: 131}},
	{"message_reaction", `{"update_id":10022,"message_reaction":{"chat":{"id":-100202,"type":"group"},"message_id":3,"user":{"id":132,"is_bot":false,"first_name":"R"},"date":1700000000,"old_reaction":[],"new_reaction":[{"type":"emoji","emoji":"👍"}]}}`,
		telegram.UpdateMeta{UpdateID: 10022, ChatID: -100202, UserID: 132}},
	{"message_reaction_count", `{"update_id":10023,"message_reaction_count":{"chat":{"id":-100203,"type":"channel"},"message_id":3,"date":1700000000,"reactions":[{"type":{"type":"emoji","emoji":"👍"},"total_count":2}]}}`,
		telegram.UpdateMeta{UpdateID: 10023, ChatID: -100203}},
	{"chat_boost", `{"update_id":10024,"chat_boost":{"chat":{"id":-100204,"type":"channel"},"boost":{"boost_id":"b","add_date":1,"expiration_date":2,"source":{"source":"premium","user":{"id":133,"is_bot":false,"first_name":"S"}}}}}`,
		telegram.UpdateMeta{UpdateID: 10024, ChatID: -100204}},
	{"removed_chat_boost", `{"update_id":10025,"removed_chat_boost":{"chat":{"id":-100205,"type":"channel"},"boost_id":"b","remove_date":3,"source":{"source":"premium","user":{"id":134,"is_bot":false,"first_name":"T"}}}}`,
		telegram.UpdateMeta{UpdateID: 10025, ChatID: -100205}},
	{"poll without chat or user", `{"update_id":10026,"poll":{"id":"p1","question":"?","options":[],"total_voter_count":0,"is_closed":true,"is_anonymous":true,"type":"regular","allows_multiple_answers":false}}`,
		telegram.UpdateMeta{UpdateID: 10026}},
	{"unknown kind", `{"update_id":10027,"something_new":{"chat":{"id":5}}}`,
		telegram.UpdateMeta{UpdateID: 10027}},
	{"chat id of the wrong type: the user still routes it", `{"update_id":10028,"message":{"chat":{"id":"111"},"from":{"id":111}}}`,
		telegram.UpdateMeta{UpdateID: 10028, UserID: 111}},
	{"largest update id, whitespace around", " \n{\"update_id\":9223372036854775807}\n",
		telegram.UpdateMeta{UpdateID: 9223372036854775807}},
}

func TestParseUpdateFindsChatAndUser(t *testing.T) {
	t.Parallel()
	for _, tc := range updates {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := telegram.ParseUpdate([]byte(tc.raw))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseUpdateRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
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
		{"missing update_id", `{"message":{"chat":{"id":1}}}`, telegram.ErrNoUpdateID},
		{"zero", `{"update_id":0}`, telegram.ErrNoUpdateID},
		{"negative", `{"update_id":-5}`, telegram.ErrNoUpdateID},
		{"string", `{"update_id":"5"}`, telegram.ErrNoUpdateID},
		{"fraction", `{"update_id":1.5}`, telegram.ErrNoUpdateID},
		{"exponent", `{"update_id":1e3}`, telegram.ErrNoUpdateID},
		{"overflow", `{"update_id":9223372036854775808}`, telegram.ErrNoUpdateID},
		{"null id", `{"update_id":null}`, telegram.ErrNoUpdateID},
		{"case differs", `{"Update_ID":5}`, telegram.ErrNoUpdateID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := telegram.ParseUpdate([]byte(tc.raw))
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestRoutingKeyPrefersChat(t *testing.T) {
	t.Parallel()
	require.Equal(t, int64(-100), telegram.UpdateMeta{UpdateID: 1, ChatID: -100, UserID: 7}.RoutingKey())
	require.Equal(t, int64(7), telegram.UpdateMeta{UpdateID: 1, UserID: 7}.RoutingKey())
	require.Equal(t, int64(0), telegram.UpdateMeta{UpdateID: 1}.RoutingKey())
}

func FuzzParseUpdate(f *testing.F) {
	for _, tc := range updates {
		f.Add([]byte(tc.raw))
	}
	for _, s := range []string{``, `null`, `{}`, `[]`, `{"update_id":-1}`, `{"update_id":1,"message":null}`,
		`{"update_id":1,"callback_query":{"message":{"chat":null},"from":{"id":2}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		meta, err := telegram.ParseUpdate(raw)
		if err != nil {
			return
		}
		if meta.UpdateID <= 0 {
			t.Fatalf("accepted update_id %d", meta.UpdateID)
		}
		again, err := telegram.ParseUpdate(raw)
		if err != nil || again != meta {
			t.Fatalf("re-parsing changed the result: %+v then %+v, %v", meta, again, err)
		}
		// Whitespace is not meaning: the compact form routes the same way.
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			t.Fatalf("accepted invalid JSON: %v", err)
		}
		if c, err := telegram.ParseUpdate(compact.Bytes()); err != nil || c != meta {
			t.Fatalf("compact form parsed differently: %+v then %+v, %v", meta, c, err)
		}
	})
}

// BenchmarkParseUpdate is the gateway's per-request decoding cost.
func BenchmarkParseUpdate(b *testing.B) {
	raw := []byte(`{"update_id":123456,"message":{"message_id":123456,"from":{"id":1000123,"is_bot":false,"first_name":"Load","username":"load_1000123","language_code":"en"},"chat":{"id":1000123,"first_name":"Load","username":"load_1000123","type":"private"},"date":1764250000,"text":"hello, how do I connect on Android?"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := telegram.ParseUpdate(raw); err != nil {
			b.Fatal(err)
		}
	}
}
