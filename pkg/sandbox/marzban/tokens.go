package marzban

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

var b64 = base64.RawURLEncoding

// jwtHeader is the header of every admin token: HS256, as the panel signs.
var jwtHeader = b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// adminClaims are an admin token's claims, as the panel's create_admin_token
// sets them.
type adminClaims struct {
	Sub    string `json:"sub"`
	Access string `json:"access"`
	Iat    int64  `json:"iat"`
	Exp    int64  `json:"exp"`
}

// adminToken issues a token for the configured admin, valid for
// Config.TokenLifetime from now.
func (s *Server) adminToken(now time.Time) string {
	claims, _ := json.Marshal(adminClaims{ // a struct of strings and numbers always encodes
		Sub: s.cfg.Username, Access: "sudo", Iat: now.Unix(), Exp: now.Add(s.cfg.TokenLifetime).Unix(),
	})
	signed := jwtHeader + "." + b64.EncodeToString(claims)
	return signed + "." + b64.EncodeToString(s.sign(signed))
}

// validAdminToken reports whether token is one the server issued, not
// expired, for the configured admin.
func (s *Server) validAdminToken(token string, now time.Time) bool {
	header, rest, ok := strings.Cut(token, ".")
	if !ok || header != jwtHeader {
		return false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.sign(header+"."+payload)) {
		return false
	}
	raw, err := b64.DecodeString(payload)
	if err != nil {
		return false
	}
	var c adminClaims
	if json.Unmarshal(raw, &c) != nil {
		return false
	}
	return c.Sub == s.cfg.Username && s.cfg.Username != "" && (c.Access == "sudo" || c.Access == "admin") &&
		now.Unix() < c.Exp
}

func (s *Server) sign(data string) []byte {
	s.mu.Lock()
	key := s.secret
	s.mu.Unlock()
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(data))
	return m.Sum(nil)
}

// subSigLen is the length of a subscription token's signature.
const subSigLen = 10

// subTokenLocked is a subscription token for username issued at now, in
// the panel's format: base64url("<username>,<issued at, Unix seconds
// rounded up>") without padding, followed by ten characters of
// base64url(sha256(that + secret)). Every user answer carries a new one.
func (s *Server) subTokenLocked(username string, now time.Time) string {
	issued := now.Unix()
	if now.Nanosecond() > 0 {
		issued++
	}
	data := b64.EncodeToString([]byte(username + "," + strconv.FormatInt(issued, 10)))
	return data + s.subSigLocked(data)
}

func (s *Server) subSigLocked(data string) string {
	sum := sha256.Sum256([]byte(data + s.secret))
	return base64.URLEncoding.EncodeToString(sum[:])[:subSigLen]
}

// subUserLocked returns the user a subscription token is valid for: signed
// by this server, of an existing user, issued no earlier than the user was
// created and than its subscription was last revoked.
func (s *Server) subUserLocked(token string) *User {
	if len(token) < 15 {
		return nil
	}
	data, sig := token[:len(token)-subSigLen], token[len(token)-subSigLen:]
	if subtle.ConstantTimeCompare([]byte(sig), []byte(s.subSigLocked(data))) != 1 {
		return nil
	}
	raw, err := b64.DecodeString(data)
	if err != nil {
		return nil
	}
	username, at, ok := strings.Cut(string(raw), ",")
	if !ok {
		return nil
	}
	sec, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return nil
	}
	issued := time.Unix(sec, 0)
	u := s.users[username]
	if u == nil || u.CreatedAt.After(issued) || u.SubRevokedAt.After(issued) {
		return nil
	}
	return u
}
