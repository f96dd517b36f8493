package webappauth_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/webappauth"
)

const token = "123456789:AAtest-Token_abc"

// Vectors made outside this package (Python's hmac and hashlib, following
// Telegram's documentation to the letter), so that Sign and the Verifier
// agreeing with each other is not all that is tested.
const (
	vectorInitData = "query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%7D&auth_date=1662771648&hash=9d7d18bb26f189796dc4754d25fefe6dd61a07fc3874a52c56353f70984e9592"
	vectorLogin    = "id=279058397&first_name=Vladislav&username=vdkfrost&auth_date=1662771648&hash=f51f6264596232ce6ab6033b62f6aee9429cd086431f60544333fdd1a13a5338"
	vectorSigned   = 1662771648
)

var alice = webappauth.User{ID: 42, FirstName: "Alice", Username: "alice", LanguageCode: "en"}

func at(unix int64) func() time.Time { return func() time.Time { return time.Unix(unix, 0) } }

func TestTheDocumentedSchemeIsWhatIsChecked(t *testing.T) {
	t.Parallel()
	v := webappauth.NewVerifier(token, 0, at(vectorSigned+60))
	a, err := v.InitData(vectorInitData)
	require.NoError(t, err)
	require.Equal(t, webappauth.User{ID: 279058397, FirstName: "Vladislav", Username: "vdkfrost", LanguageCode: "ru"}, a.User)
	require.Equal(t, time.Unix(vectorSigned, 0).UTC(), a.AuthDate)

	l, err := v.Login(vectorLogin)
	require.NoError(t, err)
	require.Equal(t, webappauth.User{ID: 279058397, FirstName: "Vladislav", Username: "vdkfrost"}, l.User)

	// Each scheme's key is its own: one's data is no proof for the other.
	_, err = v.Login(vectorInitData)
	require.ErrorIs(t, err, webappauth.ErrBadHash)
	_, err = v.InitData(vectorLogin)
	require.ErrorIs(t, err, webappauth.ErrBadHash)
}

func TestSignMakesWhatTelegramWould(t *testing.T) {
	t.Parallel()
	fields, err := url.ParseQuery(vectorInitData)
	require.NoError(t, err)
	extra := url.Values{"query_id": fields["query_id"]}
	u := webappauth.User{ID: 279058397, FirstName: "Vladislav", Username: "vdkfrost", LanguageCode: "ru"}
	signed, err := url.ParseQuery(webappauth.Sign(token, u, time.Unix(vectorSigned, 0), extra))
	require.NoError(t, err)
	require.Equal(t, fields, signed)

	login, err := url.ParseQuery(webappauth.SignLogin(token, webappauth.User{ID: 279058397, FirstName: "Vladislav", Username: "vdkfrost"}, time.Unix(vectorSigned, 0)))
	require.NoError(t, err)
	want, err := url.ParseQuery(vectorLogin)
	require.NoError(t, err)
	require.Equal(t, want, login)
}

// reencode returns signed with edit applied to its fields, keeping the hash.
func reencode(t *testing.T, signed string, edit func(url.Values)) string {
	t.Helper()
	fields, err := url.ParseQuery(signed)
	require.NoError(t, err)
	edit(fields)
	return fields.Encode()
}

func TestOnlyTheValidInitDataPasses(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	v := webappauth.NewVerifier(token, time.Hour, func() time.Time { return now })
	valid := webappauth.Sign(token, alice, now.Add(-10*time.Minute), url.Values{"query_id": {"AAE"}})

	a, err := v.InitData(valid)
	require.NoError(t, err, "the scenario's valid initData")
	require.Equal(t, alice, a.User)
	authDate := strconv.FormatInt(now.Unix(), 10)
	signed := func(f url.Values) string { return webappauth.SignFields(token, f) }
	_, err = v.InitData(signed(url.Values{"user": {`{"id":42}`}, "auth_date": {authDate}}))
	require.NoError(t, err, "SignFields signs what the malformed cases below change")

	for _, c := range []struct {
		name, data string
		want       error
	}{
		{"tampered user id", reencode(t, valid, func(f url.Values) {
			f.Set("user", strings.Replace(f.Get("user"), `"id":42`, `"id":43`, 1))
		}), webappauth.ErrBadHash},
		{"tampered auth_date", reencode(t, valid, func(f url.Values) { f.Set("auth_date", "1800000000") }), webappauth.ErrBadHash},
		{"field added", reencode(t, valid, func(f url.Values) { f.Set("chat_type", "private") }), webappauth.ErrBadHash},
		{"field removed", reencode(t, valid, func(f url.Values) { f.Del("query_id") }), webappauth.ErrBadHash},
		{"another bot's token", webappauth.Sign("987654321:AAother", alice, now, nil), webappauth.ErrBadHash},
		{"signed as Login Widget data", webappauth.SignLogin(token, alice, now), webappauth.ErrBadHash},
		{"hash not hex", reencode(t, valid, func(f url.Values) { f.Set("hash", "zz") }), webappauth.ErrBadHash},
		{"expired auth_date", webappauth.Sign(token, alice, now.Add(-time.Hour-time.Second), nil), webappauth.ErrExpired},
		{"auth_date in the future", webappauth.Sign(token, alice, now.Add(10*time.Minute), nil), webappauth.ErrExpired},
		{"missing hash", reencode(t, valid, func(f url.Values) { f.Del("hash") }), webappauth.ErrNoHash},
		{"empty hash", reencode(t, valid, func(f url.Values) { f.Set("hash", "") }), webappauth.ErrNoHash},
		{"empty", "", webappauth.ErrNoHash},
		{"not URL-encoded", "user=%zz&hash=00", webappauth.ErrMalformed},
		{"a field twice", valid + "&query_id=AAE", webappauth.ErrMalformed},
		{"too long", valid + "&pad=" + strings.Repeat("a", webappauth.MaxLength), webappauth.ErrMalformed},
		{"user not JSON", signed(url.Values{"user": {"alice"}, "auth_date": {authDate}}), webappauth.ErrMalformed},
		{"user without id", signed(url.Values{"user": {`{"first_name":"Alice"}`}, "auth_date": {authDate}}), webappauth.ErrMalformed},
		{"no user", signed(url.Values{"auth_date": {authDate}}), webappauth.ErrMalformed},
		{"auth_date not a time", signed(url.Values{"user": {`{"id":42}`}, "auth_date": {"yesterday"}}), webappauth.ErrMalformed},
		{"no auth_date", signed(url.Values{"user": {`{"id":42}`}}), webappauth.ErrMalformed},
	} {
		_, err := v.InitData(c.data)
		require.ErrorIs(t, err, c.want, c.name)
	}
}

func TestOnlyTheValidLoginWidgetDataPasses(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	v := webappauth.NewVerifier(token, 0, func() time.Time { return now })
	valid := webappauth.SignLogin(token, alice, now.Add(-23*time.Hour))
	a, err := v.Login(valid)
	require.NoError(t, err, "within the default window of a day")
	require.Equal(t, webappauth.User{ID: 42, FirstName: "Alice", Username: "alice"}, a.User)

	for _, c := range []struct {
		name, data string
		want       error
	}{
		{"tampered id", reencode(t, valid, func(f url.Values) { f.Set("id", "43") }), webappauth.ErrBadHash},
		{"tampered name", reencode(t, valid, func(f url.Values) { f.Set("username", "admin") }), webappauth.ErrBadHash},
		{"another bot's token", webappauth.SignLogin("987654321:AAother", alice, now), webappauth.ErrBadHash},
		{"signed as initData", webappauth.Sign(token, alice, now, nil), webappauth.ErrBadHash},
		{"expired", webappauth.SignLogin(token, alice, now.Add(-webappauth.DefaultMaxAge-time.Second)), webappauth.ErrExpired},
		{"missing hash", reencode(t, valid, func(f url.Values) { f.Del("hash") }), webappauth.ErrNoHash},
		{"malformed", "%", webappauth.ErrMalformed},
	} {
		_, err := v.Login(c.data)
		require.ErrorIs(t, err, c.want, c.name)
	}
}
