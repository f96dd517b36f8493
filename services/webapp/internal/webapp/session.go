package webapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"
)

// SessionCookie is the session's cookie. The __Host- prefix makes browsers
// keep it only when Secure, for this host alone and its whole path, so
// another site of the domain cannot set one.
const SessionCookie = "__Host-session"

// CSRFHeader carries, on every write, the token the session's creation
// answered.
const CSRFHeader = "X-CSRF-Token"

// Labels deriving the app's keys from the bot token: each key is for one
// use, so a value made for one (a CSRF token) is never accepted as another
// (a session), and none of them is Telegram's own key.
const (
	sessionLabel = "vpnbot webapp session v1"
	csrfLabel    = "vpnbot webapp csrf v1"
)

// sessionMACLen is the length of a session's MAC: SHA-256's whole output.
const sessionMACLen = sha256.Size

// sessions makes and opens the stateless sessions: a user id and an expiry,
// with their HMAC under a key derived from the bot token, so every replica
// accepts every replica's sessions and nothing is stored.
type sessions struct {
	key, csrfKey []byte
	ttl          time.Duration
	nowFunc      func() time.Time
}

func newSessions(botToken string, ttl time.Duration, nowFunc func() time.Time) sessions {
	return sessions{key: derive(sessionLabel, botToken), csrfKey: derive(csrfLabel, botToken), ttl: ttl, nowFunc: nowFunc}
}

func derive(label, secret string) []byte {
	m := hmac.New(sha256.New, []byte(label))
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// issue returns a session of userID, valid for the TTL from now.
func (s sessions) issue(userID int64) (value string, expires time.Time) {
	expires = s.nowFunc().Add(s.ttl).Truncate(time.Second)
	var payload [16]byte
	binary.BigEndian.PutUint64(payload[:8], uint64(userID))
	binary.BigEndian.PutUint64(payload[8:], uint64(expires.Unix()))
	return encode(payload[:]) + "." + encode(s.mac(payload[:])), expires
}

// open returns the user of a session value and when it ends; ok is false
// for a value this app did not make, or one expired.
func (s sessions) open(value string) (userID int64, expires time.Time, ok bool) {
	p, m, found := strings.Cut(value, ".")
	if !found {
		return 0, time.Time{}, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil || len(payload) != 16 || !hmac.Equal(mac, s.mac(payload)) {
		return 0, time.Time{}, false
	}
	userID = int64(binary.BigEndian.Uint64(payload[:8]))
	expires = time.Unix(int64(binary.BigEndian.Uint64(payload[8:])), 0).UTC()
	if userID <= 0 || !s.nowFunc().Before(expires) {
		return 0, time.Time{}, false
	}
	return userID, expires, true
}

// csrf is the CSRF token of a session value: a page that got it from the
// session's creation can send it, a cross-site form riding the cookie
// cannot.
func (s sessions) csrf(value string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(value))
	return encode(m.Sum(nil))
}

// csrfValid reports, in constant time, whether token is the session's.
func (s sessions) csrfValid(value, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(s.csrf(value)))
}

func (s sessions) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return m.Sum(nil)[:sessionMACLen]
}

func encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
