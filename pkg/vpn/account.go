package vpn

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kinds of panel an adapter speaks, as Panel.Kind names them.
const (
	KindOutline   = "outline"
	KindRemnawave = "remnawave"
	KindMarzban   = "marzban"
	KindXUI       = "3x-ui"
)

// Owner is whom a panel account is for: one Telegram user keeps one account
// per panel for life, across renewals, lapses and re-purchases.
type Owner struct {
	// UserID names the account (AccountName); it must be positive.
	UserID int64
	// Note is recorded on the panel for operators (a description or a
	// comment) where the panel keeps one; it does not name the account.
	Note string
}

// State is what an account should be on the panel.
type State struct {
	// Enabled is whether the account works. A disabled account keeps its
	// name, its panel id and its link, so enabling it again gives the user
	// back the same link.
	Enabled bool
	// ExpiresAt is when the panel stops the account by itself. Panels with
	// no expiry (Outline) ignore it: the bot disables the account instead.
	// Zero means no expiry, which only such panels accept.
	ExpiresAt time.Time
	// DataLimitBytes is the traffic the account may use; 0 is unlimited.
	DataLimitBytes int64
}

// Account is a user's account on a panel, as the panel reports it.
type Account struct {
	// Name is the bot's name of the account, AccountName(prefix, user id):
	// the panel username, the Outline key name, the 3x-ui client email.
	Name string
	// ID is the panel's own identifier of the account: Remnawave 3's
	// numeric id, Remnawave 2's UUID, the Marzban username, the 3x-ui client
	// id, the Outline key id. Refs carry it so that calls address the
	// account directly.
	ID string
	// URL is what the user puts in the VPN app: the subscription URL, or an
	// ss:// key for Outline.
	URL string
	// Enabled is false when the account exists but does not work: disabled,
	// expired or over its traffic limit on the panel.
	Enabled bool
	// ExpiresAt is the expiry the panel enforces, to the precision it keeps;
	// zero when it has none.
	ExpiresAt time.Time
	// DataLimitBytes is the traffic limit on the panel; 0 is unlimited.
	DataLimitBytes int64
}

// Ref is how the bot addresses an account it recorded: by the panel's id when
// it has one, falling back to the name when the id is empty or no longer
// the panel's (a Remnawave 2 UUID after the panel moved to 3.x).
type Ref struct {
	ID   string
	Name string
}

// Ref addresses a.
func (a Account) Ref() Ref { return Ref{ID: a.ID, Name: a.Name} }

// Page is one page of the accounts a panel lists.
type Page struct {
	// Accounts are the page's accounts named by this bot's prefix (others on
	// the panel are skipped).
	Accounts []Account
	// Next is the cursor of the next page; empty after the last.
	Next string
}

// Panel is one VPN panel holding one account per user. Every method is
// idempotent, because workers retry whatever failed and several replicas may
// act on the same user.
type Panel interface {
	// Kind is one of the Kind constants, for logs and metrics.
	Kind() string
	// AccountName is the name CreateAccount gives the user's account.
	AccountName(userID int64) string
	// CreateAccount returns the owner's account, creating it in state want if
	// the panel has none of its name. An account that exists (made by an
	// earlier call whose answer was lost in a crash, or by a concurrent one)
	// is adopted and returned as it is, never duplicated: the caller sets its
	// state with SetAccount when it differs.
	CreateAccount(ctx context.Context, o Owner, want State) (Account, error)
	// Account reads one account; a missing one is ErrNotFound.
	Account(ctx context.Context, ref Ref) (Account, error)
	// SetAccount makes the account's enabled flag, expiry and data limit
	// what want says, keeping its name, id and link, and returns it as the
	// panel now has it. A missing account is ErrNotFound.
	SetAccount(ctx context.Context, ref Ref, want State) (Account, error)
	// RotateAccount gives the account a new link: the old URL stops working
	// and the returned Account carries the new one. A missing account is
	// ErrNotFound.
	RotateAccount(ctx context.Context, ref Ref) (Account, error)
	// DeleteAccount removes the account; a missing one is not an error.
	DeleteAccount(ctx context.Context, ref Ref) error
	// Accounts returns one page of this bot's accounts, starting at cursor
	// ("" for the first page), in a stable order, for reconciliation.
	Accounts(ctx context.Context, cursor string) (Page, error)
	// Close releases idle connections to the panel.
	Close() error
}

// accountInfix separates the prefix from the user id in an account name:
// "vpnbot_u42". The "u" keeps these names apart from the per-period names
// ("vpnbot_42") that older versions made.
const accountInfix = "_u"

// maxUserIDDigits is the longest user id (an int64) in decimal.
const maxUserIDDigits = 19

// AccountName is the name of a user's account: "<prefix>_u<user id>".
func AccountName(prefix string, userID int64) string {
	return prefix + accountInfix + strconv.FormatInt(userID, 10)
}

// AccountUser returns the user id an account name of prefix carries, and
// false for a name that is not one.
func AccountUser(prefix, name string) (int64, bool) {
	n, ok := strings.CutPrefix(name, prefix+accountInfix)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(n, 10, 64)
	return v, err == nil && v > 0 && strconv.FormatInt(v, 10) == n
}

// checkOwner rejects an owner whose account cannot be named.
func checkOwner(o Owner) error {
	if o.UserID <= 0 {
		return fmt.Errorf("user id %d: must be positive", o.UserID)
	}
	return nil
}

// accountPrefix validates a configured prefix for a panel whose names hold at
// most maxName characters, applying the default.
func accountPrefix(prefix string, maxName int) (string, error) {
	p, err := namePrefix(prefix)
	if err != nil {
		return "", err
	}
	if n := len(p) + len(accountInfix) + maxUserIDDigits; n > maxName {
		return "", fmt.Errorf("name prefix %q: names would reach %d characters, the panel takes %d", p, n, maxName)
	}
	return p, nil
}

// Matches reports whether the account is in state want: expiries are
// compared to the second (what every panel keeps), and an account with no
// expiry (a panel that keeps none) matches any.
func (a Account) Matches(want State) bool {
	sameExpiry := a.ExpiresAt.IsZero() || a.ExpiresAt.Truncate(time.Second).Equal(want.ExpiresAt.Truncate(time.Second))
	return a.Enabled == want.Enabled && a.DataLimitBytes == want.DataLimitBytes && sameExpiry
}
