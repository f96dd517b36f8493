package vpn

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

var (
	// ErrUnavailable means the panel could not answer now: unreachable, 5xx,
	// 429 or slower than the configured timeout. Retry later; a
	// CreateAccount that failed this way may have happened on the panel,
	// and the next one adopts the account it made.
	ErrUnavailable = errors.New("vpn panel unavailable")
	// ErrUnauthorized means the panel refused our credentials: a wrong
	// Remnawave token, Marzban or 3x-ui password, or an Outline API URL
	// whose secret path the server does not know. Retrying does not help.
	ErrUnauthorized = errors.New("vpn panel refused our credentials")
	// ErrUntrustedCertificate means the panel's TLS certificate is not the
	// pinned one (or, without a pin, does not verify). Retrying does not help.
	ErrUntrustedCertificate = errors.New("vpn panel's TLS certificate is not trusted")
	// ErrNotFound means the account does not exist on the panel.
	ErrNotFound = errors.New("vpn account not found on the panel")
)

const (
	// DefaultNamePrefix is the name prefix used when a config leaves it empty.
	DefaultNamePrefix = "vpnbot"
	// DefaultTimeout bounds one HTTP request to a panel when a config leaves
	// Timeout zero.
	DefaultTimeout = 10 * time.Second
	// maxPrefixLen bounds a prefix on every panel, so that account names
	// stay short in the panels' own pages; a panel whose names are shorter
	// bounds it further (accountPrefix).
	maxPrefixLen = 16
)

// prefixPattern is what every panel accepts in account names, and what a
// Fleet takes as a panel's name: letters, digits, '_' and '-'.
var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// namePrefix validates a configured prefix, applying the default.
func namePrefix(prefix string) (string, error) {
	if prefix == "" {
		return DefaultNamePrefix, nil
	}
	if len(prefix) > maxPrefixLen || !prefixPattern.MatchString(prefix) {
		return "", fmt.Errorf("name prefix %q: want 1-%d letters, digits, '_' or '-'", prefix, maxPrefixLen)
	}
	return prefix, nil
}
