package vpn

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Period identifies one subscription period: access is created at most once
// per period.
type Period struct {
	// SubscriptionID names the access on the panel, so it must be positive and
	// never reused for another subscription.
	SubscriptionID int64
	// UserID is recorded on the panel for operators; it does not name the access.
	UserID int64
	// ExpiresAt is when the access ends on panels that enforce an expiry
	// (Remnawave); Outline ignores it.
	ExpiresAt time.Time
}

// Access is what the user gets.
type Access struct {
	// ID is the panel's id of the access: the Outline key id or the Remnawave
	// user UUID. Extend, Revoke and Status take it.
	ID string
	// URL is what the user puts in the VPN app: an ss:// key for Outline, the
	// subscription URL for Remnawave.
	URL string
	// ExpiresAt is the expiry the panel enforces, to the millisecond it keeps;
	// zero for Outline, which has no expiry.
	ExpiresAt time.Time
}

// Status is what the panel says of an access.
type Status string

const (
	// StatusActive means the access works.
	StatusActive Status = "active"
	// StatusDisabled means the access exists but does not work: disabled,
	// expired or over its traffic limit on the panel.
	StatusDisabled Status = "disabled"
	// StatusMissing means the panel has no such access.
	StatusMissing Status = "missing"
)

// Provisioner is one VPN panel. Every method is idempotent.
type Provisioner interface {
	// Create returns the period's access, creating it on the panel if it does
	// not exist yet: calling it twice for the same period returns the same
	// access (same ID and URL).
	Create(ctx context.Context, p Period) (Access, error)
	// Extend moves the access's expiry (Remnawave expireAt; Outline has no
	// expiry: no-op beyond checking it exists). A missing access is ErrNotFound.
	Extend(ctx context.Context, accessID string, expiresAt time.Time) error
	// Revoke removes access. Revoking a missing access is not an error.
	Revoke(ctx context.Context, accessID string) error
	// Status reports whether the access works, exists disabled, or is gone.
	Status(ctx context.Context, accessID string) (Status, error)
	// List returns all accesses this bot manages (by the name prefix), for
	// reconciliation.
	List(ctx context.Context) ([]Access, error)
	// Name is "outline" or "remnawave", for logs and metrics.
	Name() string
}

var (
	// ErrUnavailable means the panel could not answer now: unreachable, 5xx,
	// 429 or slower than the configured timeout. Retry later; a Create that
	// failed this way may have happened on the panel, which the next Create
	// finds.
	ErrUnavailable = errors.New("vpn panel unavailable")
	// ErrUnauthorized means the panel refused our credentials: a wrong
	// Remnawave token, or an Outline API URL whose secret path the server does
	// not know. Retrying does not help.
	ErrUnauthorized = errors.New("vpn panel refused our credentials")
	// ErrUntrustedCertificate means the panel's TLS certificate is not the
	// pinned one (or, without a pin, does not verify). Retrying does not help.
	ErrUntrustedCertificate = errors.New("vpn panel's TLS certificate is not trusted")
	// ErrNotFound means the access does not exist on the panel.
	ErrNotFound = errors.New("vpn access not found on the panel")
)

const (
	// DefaultNamePrefix is the name prefix used when a config leaves it empty.
	DefaultNamePrefix = "vpnbot"
	// DefaultTimeout bounds one HTTP request to a panel when a config leaves
	// Timeout zero.
	DefaultTimeout = 10 * time.Second
	// maxPrefixLen keeps "<prefix>_<any int64>" within Remnawave's 36-character
	// usernames (19 digits and a separator leave 16).
	maxPrefixLen = 16
)

// prefixPattern is what both panels accept in names: Remnawave usernames allow
// letters, digits, '_' and '-', and Outline key ids go in URL paths.
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

func checkPeriod(p Period) error {
	if p.SubscriptionID <= 0 {
		return fmt.Errorf("subscription id %d: must be positive", p.SubscriptionID)
	}
	return nil
}
