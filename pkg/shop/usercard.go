package shop

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// FindUser resolves what an admin typed after /user to a user id:
//
//   - digits: the user with that id, or, when no user has it, the user of
//     the invoice with that Crypto Pay external id (also digits);
//   - "@name": the user with that username, case-insensitive (the one seen
//     last, should a username have moved between users);
//   - "#123" or "inv123": the user of invoice 123;
//   - anything else: the user of the invoice with that Telegram charge id
//     or Crypto Pay external id.
//
// Nothing found is ErrUnknownUser.
func (s *Shop) FindUser(ctx context.Context, query string) (int64, error) {
	q := strings.TrimSpace(query)
	var id int64
	var err error
	switch {
	case q == "":
		err = pgx.ErrNoRows
	case strings.HasPrefix(q, "@"):
		err = s.pool.QueryRow(ctx, `SELECT id FROM users WHERE lower(username) = lower($1)
			ORDER BY updated_at DESC, id DESC LIMIT 1`, q[1:]).Scan(&id)
	case invoiceRef(q) != 0:
		err = s.pool.QueryRow(ctx, `SELECT user_id FROM invoices WHERE id = $1`, invoiceRef(q)).Scan(&id)
	default:
		if n, perr := strconv.ParseInt(q, 10, 64); perr == nil && n > 0 {
			err = s.pool.QueryRow(ctx, `SELECT id FROM users WHERE id = $1`, n).Scan(&id)
			if !errors.Is(err, pgx.ErrNoRows) {
				break
			}
		}
		err = s.pool.QueryRow(ctx, `SELECT user_id FROM invoices
			WHERE charge_id = $1 OR (provider = 'cryptopay' AND external_id = $1) LIMIT 1`, q).Scan(&id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrUnknownUser
	}
	if err != nil {
		return 0, fmt.Errorf("finding user %q: %w", query, err)
	}
	return id, nil
}

// invoiceRef is the invoice id of "#123" or "inv123", 0 for anything else.
func invoiceRef(q string) int64 {
	var digits string
	switch {
	case strings.HasPrefix(q, "#"):
		digits = q[1:]
	case len(q) > 3 && strings.EqualFold(q[:3], "inv"):
		digits = q[3:]
	default:
		return 0
	}
	n, err := strconv.ParseUint(digits, 10, 63)
	if err != nil {
		return 0
	}
	return int64(n)
}

// userCardHistory is how many of a user's latest ledger rows UserCard lists.
const userCardHistory = 10

// UserCard is what an admin's card of a user shows beyond UserInfo.
type UserCard struct {
	UserInfo
	// Role is the role granted to the user ("" none; owners are the
	// configuration's).
	Role string
	// BannedAt is when the user was banned; nil when they are not.
	BannedAt *time.Time
	// Balances are the user's non-zero balances, USD first.
	Balances []Balance
	// Account is the user's VPN account (panel, the panel's link); nil
	// until made. The link the user was given is their period's
	// (UserInfo.Subscription.Access.URL), which with dynamic keys differs.
	Account *Account
	// SuspendedAt is when activation suspended the account for a ban.
	SuspendedAt *time.Time
	// History is the user's latest ledger rows, newest first.
	History []Entry
}

// UserCard returns what an admin's card of the user shows, or
// ErrUnknownUser.
func (s *Shop) UserCard(ctx context.Context, userID int64) (UserCard, error) {
	var c UserCard
	var err error
	if c.UserInfo, err = s.UserInfo(ctx, userID); err != nil {
		return UserCard{}, err
	}
	if c.Role, err = s.Role(ctx, userID); err != nil {
		return UserCard{}, err
	}
	if c.BannedAt, err = s.Banned(ctx, userID); err != nil {
		return UserCard{}, err
	}
	if c.Balances, err = s.Balances(ctx, userID); err != nil {
		return UserCard{}, err
	}
	if c.History, err = s.History(ctx, userID, userCardHistory); err != nil {
		return UserCard{}, err
	}
	var acc Account
	err = s.pool.QueryRow(ctx, `SELECT panel, name, external_id, access_url, suspended_at FROM vpn_accounts
		WHERE user_id = $1 AND external_id <> ''`, userID).Scan(&acc.Panel, &acc.Name, &acc.ExternalID, &acc.URL, &c.SuspendedAt)
	switch {
	case err == nil:
		c.Account = &acc
		inUTCOpt(&c.SuspendedAt)
	case !errors.Is(err, pgx.ErrNoRows):
		return UserCard{}, fmt.Errorf("reading the account of user %d: %w", userID, err)
	}
	return c, nil
}
