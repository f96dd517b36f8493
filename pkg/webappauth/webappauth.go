package webappauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxAge is how old an auth_date a Verifier accepts by default.
const DefaultMaxAge = 24 * time.Hour

// maxSkew is how far in the future an auth_date may be: Telegram's clock and
// ours disagree a little, never by minutes.
const maxSkew = 5 * time.Minute

// MaxLength bounds the signed data a Verifier reads: real initData is well
// under 2 KiB; more is not Telegram's.
const MaxLength = 8 << 10

// Errors of Verifier's methods; each is returned wrapped, and every one of
// them means the data proves nothing.
var (
	// ErrMalformed: not a URL-encoded list of fields Telegram makes (a key
	// twice, no user, an auth_date that is no time, too long).
	ErrMalformed = errors.New("malformed signed data")
	// ErrNoHash: the hash field is missing.
	ErrNoHash = errors.New("signed data without a hash")
	// ErrBadHash: the hash is not the one the bot's key gives: a field was
	// changed, or it was signed for another bot, or for the other scheme.
	ErrBadHash = errors.New("signed data with a wrong hash")
	// ErrExpired: auth_date is older than the window, or further in the
	// future than clocks disagree.
	ErrExpired = errors.New("signed data too old")
)

// User is the Telegram user the signed data is of.
type User struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	// LanguageCode is the IETF tag of the user's Telegram client (Mini App
	// only: the Login Widget does not tell it).
	LanguageCode string `json:"language_code,omitempty"`
}

// Auth is what a valid signed value says.
type Auth struct {
	User User
	// AuthDate is when Telegram signed it.
	AuthDate time.Time
}

// Verifier checks signed data of one bot. It is safe for concurrent use.
type Verifier struct {
	webAppKey, loginKey []byte
	maxAge              time.Duration
	nowFunc             func() time.Time
}

// NewVerifier returns a Verifier for the bot whose token is botToken,
// accepting data signed at most maxAge ago (DefaultMaxAge when not
// positive) by nowFunc (time.Now when nil).
func NewVerifier(botToken string, maxAge time.Duration, nowFunc func() time.Time) *Verifier {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if nowFunc == nil {
		nowFunc = time.Now
	}
	return &Verifier{webAppKey: webAppKey(botToken), loginKey: loginKey(botToken), maxAge: maxAge, nowFunc: nowFunc}
}

// InitData checks a Mini App's raw initData, as Telegram.WebApp.initData
// gives it, and returns the user it is of.
func (v *Verifier) InitData(raw string) (Auth, error) {
	fields, err := v.check(raw, v.webAppKey)
	if err != nil {
		return Auth{}, fmt.Errorf("checking Mini App initData: %w", err)
	}
	var u User
	if err := json.Unmarshal([]byte(fields.Get("user")), &u); err != nil || u.ID <= 0 {
		return Auth{}, fmt.Errorf("checking Mini App initData: %w: its user is not a Telegram user", ErrMalformed)
	}
	return Auth{User: u, AuthDate: authDate(fields)}, nil
}

// Login checks the Login Widget's data, URL-encoded as the widget's
// data-auth-url gets it (id, first_name, last_name, username, photo_url,
// auth_date, hash), and returns the user it is of.
func (v *Verifier) Login(raw string) (Auth, error) {
	fields, err := v.check(raw, v.loginKey)
	if err != nil {
		return Auth{}, fmt.Errorf("checking Login Widget data: %w", err)
	}
	id, err := strconv.ParseInt(fields.Get("id"), 10, 64)
	if err != nil || id <= 0 {
		return Auth{}, fmt.Errorf("checking Login Widget data: %w: its id is not a Telegram user id", ErrMalformed)
	}
	u := User{ID: id, FirstName: fields.Get("first_name"), LastName: fields.Get("last_name"), Username: fields.Get("username")}
	return Auth{User: u, AuthDate: authDate(fields)}, nil
}

// check parses raw, checks its hash under key and its auth_date against the
// window, and returns its fields.
func (v *Verifier) check(raw string, key []byte) (url.Values, error) {
	if len(raw) > MaxLength {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(raw))
	}
	fields, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not URL-encoded fields", ErrMalformed)
	}
	for k, vs := range fields {
		// Two values of a key: which one would the hash be of?
		if len(vs) != 1 {
			return nil, fmt.Errorf("%w: field %q given %d times", ErrMalformed, k, len(vs))
		}
	}
	got, ok := fields["hash"]
	if !ok || got[0] == "" {
		return nil, ErrNoHash
	}
	want := hash(key, fields)
	gotBytes, err := hex.DecodeString(got[0])
	if err != nil || !hmac.Equal(gotBytes, want) {
		return nil, ErrBadHash
	}
	secs, err := strconv.ParseInt(fields.Get("auth_date"), 10, 64)
	if err != nil || secs <= 0 {
		return nil, fmt.Errorf("%w: auth_date is not a Unix time", ErrMalformed)
	}
	now, at := v.nowFunc(), time.Unix(secs, 0)
	if now.Sub(at) > v.maxAge || at.Sub(now) > maxSkew {
		return nil, fmt.Errorf("%w: signed at %s, now %s", ErrExpired, at.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return fields, nil
}

// authDate is the auth_date check accepted.
func authDate(fields url.Values) time.Time {
	secs, _ := strconv.ParseInt(fields.Get("auth_date"), 10, 64)
	return time.Unix(secs, 0).UTC()
}

// webAppKey is the Mini App scheme's secret key of the bot.
func webAppKey(botToken string) []byte {
	m := hmac.New(sha256.New, []byte("WebAppData"))
	m.Write([]byte(botToken))
	return m.Sum(nil)
}

// loginKey is the Login Widget scheme's secret key of the bot.
func loginKey(botToken string) []byte {
	sum := sha256.Sum256([]byte(botToken))
	return sum[:]
}

// DataCheckString is what the hash of fields is of: every field but hash,
// sorted by key, "key=value" joined by "\n".
func DataCheckString(fields url.Values) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k != "hash" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(fields.Get(k))
	}
	return b.String()
}

func hash(key []byte, fields url.Values) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(DataCheckString(fields)))
	return m.Sum(nil)
}

// Sign returns the initData Telegram would open the bot's Mini App with for
// u at authDate: auth_date, user (as JSON) and the fields of extra
// (query_id, chat_type…), with their hash.
func Sign(botToken string, u User, authDate time.Time, extra url.Values) string {
	fields := url.Values{}
	for k, vs := range extra {
		fields[k] = append([]string(nil), vs...)
	}
	userJSON, _ := json.Marshal(u) // a struct of strings and an int marshals
	fields.Set("user", string(userJSON))
	fields.Set("auth_date", strconv.FormatInt(authDate.Unix(), 10))
	return SignFields(botToken, fields)
}

// SignFields returns fields as initData with the hash the bot's Mini App
// key gives them, whatever they hold: for tests of what a valid hash does
// not make valid.
func SignFields(botToken string, fields url.Values) string {
	signed := url.Values{}
	for k, vs := range fields {
		if k != "hash" {
			signed[k] = append([]string(nil), vs...)
		}
	}
	signed.Set("hash", hex.EncodeToString(hash(webAppKey(botToken), signed)))
	return signed.Encode()
}

// SignLogin returns the data the Login Widget would hand a page for u at
// authDate, URL-encoded, with its hash.
func SignLogin(botToken string, u User, authDate time.Time) string {
	fields := url.Values{}
	fields.Set("id", strconv.FormatInt(u.ID, 10))
	for k, v := range map[string]string{"first_name": u.FirstName, "last_name": u.LastName, "username": u.Username} {
		if v != "" {
			fields.Set(k, v)
		}
	}
	fields.Set("auth_date", strconv.FormatInt(authDate.Unix(), 10))
	fields.Set("hash", hex.EncodeToString(hash(loginKey(botToken), fields)))
	return fields.Encode()
}
