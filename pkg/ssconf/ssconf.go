package ssconf

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// DefaultLabel is the link's label unless KEYSERVER_LABEL says otherwise.
const DefaultLabel = "VPN"

// linkPath is the key server's path of a token, before the token.
const linkPath = "/k/"

// Pattern is the key server's route (an http.ServeMux pattern) for the
// links Settings.Link makes; its wildcard is TokenParam.
const Pattern = "GET " + linkPath + "{" + TokenParam + "}"

// TokenParam is the name of Pattern's wildcard: the link's token.
const TokenParam = "token"

// Settings is where the key server is, for whoever makes links.
type Settings struct {
	// URL is the key server's public origin, https://host[:port]; empty
	// turns dynamic keys off, and Outline users get the panel's ss:// key.
	URL string `env:"KEYSERVER_URL"`
	// Label names the server in the user's Outline app: the link's
	// fragment.
	Label string `env:"KEYSERVER_LABEL"`
}

// DefaultSettings are the settings before the environment overlays them:
// dynamic keys off.
func DefaultSettings() Settings { return Settings{Label: DefaultLabel} }

// Enabled reports whether Outline users get dynamic keys.
func (s Settings) Enabled() bool { return s.URL != "" }

// Validate reports settings that cannot work. An Outline client fetches
// the link's https:// URL itself, so the origin must be one it can fetch:
// https, with a host, and nothing after it, since the key server answers
// at its root.
func (s Settings) Validate() error {
	if !s.Enabled() {
		return nil
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil ||
		strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("KEYSERVER_URL=%q: want the key server's https origin, e.g. https://keys.example.com", s.URL)
	}
	if s.Label == "" {
		return errors.New("KEYSERVER_LABEL is empty: the Outline app would show the server unnamed")
	}
	return nil
}

// Link is the dynamic key of the account whose token is token. Settings
// must be valid and enabled.
func (s Settings) Link(token string) string {
	u, _ := url.Parse(s.URL) // Validate parsed it
	link := url.URL{Scheme: "ssconf", Host: u.Host, Path: linkPath + token, Fragment: s.Label}
	return link.String()
}

// Config is a Shadowsocks access as an Outline client reads it from a
// dynamic key.
type Config struct {
	Server     string `json:"server"`
	ServerPort int    `json:"server_port"`
	Password   string `json:"password"`
	Method     string `json:"method"`
	// Prefix is the salt prefix some Outline servers ask for (the key's
	// prefix parameter), to look like another protocol; usually none.
	Prefix string `json:"prefix,omitempty"`
}

// ErrNotShadowsocks is a key that is not an ss:// URL: the link of another
// kind of panel.
var ErrNotShadowsocks = errors.New("not an ss:// key")

// ParseKey reads an ss:// key in the SIP002 form Outline servers hand out,
// ss://<userinfo>@host:port/?outline=1, whose userinfo is method:password
// in unpadded URL-safe base64 (or, in the SIP022 form, percent-encoded).
// A key that is not ss:// is ErrNotShadowsocks.
func ParseKey(key string) (Config, error) {
	u, err := url.Parse(key)
	if err != nil {
		// url.Parse's error quotes the key, a credential.
		if strings.HasPrefix(key, "ss://") {
			return Config{}, errors.New("parsing an ss:// key: not a URL")
		}
		return Config{}, ErrNotShadowsocks
	}
	if u.Scheme != "ss" {
		return Config{}, ErrNotShadowsocks
	}
	if u.User == nil || u.Hostname() == "" {
		return Config{}, errors.New("parsing an ss:// key: no user info and host")
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port < 1 || port > 65535 {
		return Config{}, errors.New("parsing an ss:// key: no valid port")
	}
	method, password, ok := userInfo(u.User)
	if !ok {
		return Config{}, errors.New("parsing an ss:// key: its user info is not method:password")
	}
	return Config{Server: u.Hostname(), ServerPort: port, Password: password, Method: method,
		Prefix: u.Query().Get("prefix")}, nil
}

// userInfo reads method and password from a key's user info.
func userInfo(ui *url.Userinfo) (method, password string, ok bool) {
	if p, set := ui.Password(); set {
		return ui.Username(), p, ui.Username() != ""
	}
	raw := strings.TrimRight(ui.Username(), "=")
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(raw); err == nil {
			method, password, ok = strings.Cut(string(b), ":")
			return method, password, ok && method != ""
		}
	}
	return "", "", false
}
