package shop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	// ErrNothingActive: the user has no period running (none active, or
	// the active one past its expiry), so there is nothing to shorten or
	// end.
	ErrNothingActive = errors.New("no period running")
	// ErrNoAccount: the user has no VPN account (none made yet), so there
	// is no link to reissue.
	ErrNoAccount = errors.New("no VPN account")
)

// grantKey is the op key of the ledger row of an admin's grant.
func grantKey(opKey string) string { return "grant:" + opKey }

// period is a user's active period as an action found it, locked.
type period struct {
	id      int64
	expires time.Time
}

// running reports whether p has time left at now.
func (p *period) running(now time.Time) bool { return p != nil && p.expires.After(now) }

// state is p in an audit row: nil values when there is none.
func (p *period) state() map[string]any {
	if p == nil {
		return map[string]any{"subscription_id": nil, "expires_at": nil}
	}
	return map[string]any{"subscription_id": p.id, "expires_at": p.expires}
}

// lockActive locks the user's active period, or returns nil when they have
// none; a user who never started the bot is ErrUnknownUser.
func lockActive(ctx context.Context, tx pgx.Tx, userID int64) (*period, error) {
	var p period
	err := tx.QueryRow(ctx, `SELECT id, expires_at FROM subscriptions WHERE user_id = $1 AND status = 'active' FOR UPDATE`,
		userID).Scan(&p.id, &p.expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, userExists(ctx, tx, userID)
	}
	if err != nil {
		return nil, fmt.Errorf("locking the active period: %w", err)
	}
	inUTC(&p.expires)
	return &p, nil
}

// userExists is ErrUnknownUser for a user who never started the bot.
func userExists(ctx context.Context, q querier, userID int64) error {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, userID).Scan(&ok); err != nil {
		return fmt.Errorf("reading user %d: %w", userID, err)
	}
	if !ok {
		return fmt.Errorf("user %d: %w", userID, ErrUnknownUser)
	}
	return nil
}

// posted appends e in tx; a row of its key written before (by no admin
// action, since the action's key was free) is ErrActConflict.
func posted(ctx context.Context, tx pgx.Tx, e Entry, now time.Time) (Entry, error) {
	got, ok, err := appendEntry(ctx, tx, e, now)
	if err != nil {
		return Entry{}, err
	}
	if !ok {
		return Entry{}, fmt.Errorf("ledger row %s: %w", e.OpKey, ErrActConflict)
	}
	return got, nil
}

// AdminExtend changes the user's access by d, in whole seconds, as a
// ledger row LedgerGrant keyed "grant:"+act.OpKey, with its audit row
// (before and after: subscription_id, expires_at).
//
// d > 0 (ActionExtend) adds d as a payment would: to the active period from
// the later of now and its expiry, or as a new period from now when the
// user has none active; the caller then wakes activation, which gives the
// access or extends it on the panel. d < 0 (ActionShorten) takes up to -d
// from the running period, never to before now; a user with none running
// is ErrNothingActive. The panel's expiry is not moved back: the access is
// revoked once the shortened period has ended and its grace passed, as
// after a refund.
func (s *Shop) AdminExtend(ctx context.Context, act Act, userID int64, d time.Duration) (AdminResult, error) {
	d = d.Truncate(time.Second)
	if d == 0 {
		return AdminResult{}, fmt.Errorf("changing the access of user %d: no duration", userID)
	}
	if d < 0 {
		return s.takeAccess(ctx, act, ActionShorten, userID, func(time.Duration) time.Duration { return -d })
	}
	key := grantKey(act.OpKey)
	return s.adminAct(ctx, act, ActionExtend, userID, key, func(tx pgx.Tx, now time.Time) (change, error) {
		before, err := lockActive(ctx, tx, userID)
		if err != nil {
			return change{}, err
		}
		id, _, err := grant(ctx, tx, userID, KindPaid, now, d, false)
		if err != nil {
			return change{}, fmt.Errorf("granting %s: %w", d, err)
		}
		e := Entry{OpKey: key, UserID: userID, Kind: LedgerGrant, Duration: d, SubscriptionID: id, Ref: ActionExtend}
		if _, err := posted(ctx, tx, e, now); err != nil {
			return change{}, err
		}
		after, err := lockActive(ctx, tx, userID)
		if err != nil {
			return change{}, err
		}
		if before == nil && !after.expires.Equal(now.Add(d)) {
			// A payment started a period after the lock found none, and
			// this grant extended it: the state before is not what was
			// read.
			return change{}, errRaced
		}
		return change{target: userID, before: before.state(), after: after.state()}, nil
	})
}

// AdminEndNow ends the user's running period now (ActionEnd): a ledger row
// LedgerGrant of the time taken, keyed "grant:"+act.OpKey. Its access is
// then revoked by expiry-cleanup as that of any period that ended (after
// its grace). A user with no period running is ErrNothingActive. (A period
// begun this very second ends a second after its start: no period is
// empty.)
func (s *Shop) AdminEndNow(ctx context.Context, act Act, userID int64) (AdminResult, error) {
	return s.takeAccess(ctx, act, ActionEnd, userID, func(left time.Duration) time.Duration { return left })
}

// takeAccess takes from the user's running period what take says of the
// time it has left, in action.
func (s *Shop) takeAccess(ctx context.Context, act Act, action string, userID int64, take func(left time.Duration) time.Duration) (AdminResult, error) {
	key := grantKey(act.OpKey)
	return s.adminAct(ctx, act, action, userID, key, func(tx pgx.Tx, now time.Time) (change, error) {
		before, err := lockActive(ctx, tx, userID)
		if err != nil {
			return change{}, err
		}
		if !before.running(now) {
			return change{}, fmt.Errorf("user %d: %w", userID, ErrNothingActive)
		}
		taken, err := takeBack(ctx, tx, before.id, take(before.expires.Sub(now)), now)
		if err != nil {
			return change{}, err
		}
		if taken > 0 {
			e := Entry{OpKey: key, UserID: userID, Kind: LedgerGrant, Duration: -taken, SubscriptionID: before.id, Ref: action}
			if _, err := posted(ctx, tx, e, now); err != nil {
				return change{}, err
			}
		}
		after := &period{id: before.id, expires: before.expires.Add(-taken)}
		return change{target: userID, before: before.state(), after: after.state()}, nil
	})
}

// Ban bans the user (ActionBan): users.banned_at is set, and activation
// suspends their panel account. Their period is not touched: an unban
// gives their access back while it lasts. Banning a banned user keeps the
// first ban's time, and is recorded all the same.
func (s *Shop) Ban(ctx context.Context, act Act, userID int64) (AdminResult, error) {
	return s.setBan(ctx, act, ActionBan, userID, true)
}

// Unban lifts the user's ban (ActionUnban).
func (s *Shop) Unban(ctx context.Context, act Act, userID int64) (AdminResult, error) {
	return s.setBan(ctx, act, ActionUnban, userID, false)
}

// setBan sets or lifts the ban, with the audit row (before and after:
// banned_at).
func (s *Shop) setBan(ctx context.Context, act Act, action string, userID int64, ban bool) (AdminResult, error) {
	return s.adminAct(ctx, act, action, userID, "", func(tx pgx.Tx, now time.Time) (change, error) {
		var before, after *time.Time
		err := tx.QueryRow(ctx, `
			WITH old AS (SELECT id, banned_at FROM users WHERE id = $1 FOR UPDATE)
			UPDATE users u SET banned_at = CASE WHEN $2 THEN COALESCE(old.banned_at, $3) END
			FROM old WHERE u.id = old.id
			RETURNING old.banned_at, u.banned_at`, userID, ban, now).Scan(&before, &after)
		if errors.Is(err, pgx.ErrNoRows) {
			return change{}, fmt.Errorf("user %d: %w", userID, ErrUnknownUser)
		}
		if err != nil {
			return change{}, fmt.Errorf("writing the ban: %w", err)
		}
		inUTCOpt(&before, &after)
		return change{target: userID, before: map[string]any{"banned_at": before}, after: map[string]any{"banned_at": after}}, nil
	})
}

// Banned returns when the user was banned, nil when they are not.
func (s *Shop) Banned(ctx context.Context, userID int64) (bannedAt *time.Time, err error) {
	err = s.pool.QueryRow(ctx, `SELECT banned_at FROM users WHERE id = $1`, userID).Scan(&bannedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrUnknownUser
	}
	if err != nil {
		return nil, fmt.Errorf("reading the ban of user %d: %w", userID, err)
	}
	inUTCOpt(&bannedAt)
	return bannedAt, nil
}

// AdminGrantBalance adds amount (negative: takes it) to the user's balance
// in currency (ActionGrantBalance): a ledger row LedgerGrant keyed
// "grant:"+act.OpKey, which moves no money, with its audit row (before and
// after: currency, balance). Taking more than the balance holds is
// ErrInsufficientBalance, and nothing is recorded.
func (s *Shop) AdminGrantBalance(ctx context.Context, act Act, userID int64, currency string, amount int64) (AdminResult, error) {
	if currency != CurrencyUSD && currency != CurrencyXTR {
		return AdminResult{}, fmt.Errorf("granting user %d a balance: %w %q", userID, ErrUnknownCurrency, currency)
	}
	if amount == 0 {
		return AdminResult{}, fmt.Errorf("granting user %d a balance: no amount", userID)
	}
	key := grantKey(act.OpKey)
	return s.adminAct(ctx, act, ActionGrantBalance, userID, key, func(tx pgx.Tx, now time.Time) (change, error) {
		e := Entry{OpKey: key, UserID: userID, Kind: LedgerGrant, Currency: currency, Amount: amount, Ref: ActionGrantBalance}
		if _, err := posted(ctx, tx, e, now); err != nil {
			return change{}, err
		}
		// The row's trigger holds the balance's lock until commit, so
		// what it was before is what it is now less the grant.
		after, err := balance(ctx, tx, userID, currency)
		if err != nil {
			return change{}, fmt.Errorf("reading the balance: %w", err)
		}
		return change{
			target: userID,
			before: map[string]any{"currency": currency, "balance": after - amount},
			after:  map[string]any{"currency": currency, "balance": after},
		}, nil
	})
}

// AdminReissue asks for a new link for the user (ActionReissue), as
// RequestNewLink does, with its audit row (before and after:
// rotate_requested_at; one already asked for stays). A user with no
// account is ErrNoAccount.
func (s *Shop) AdminReissue(ctx context.Context, act Act, userID int64) (AdminResult, error) {
	return s.adminAct(ctx, act, ActionReissue, userID, "", func(tx pgx.Tx, now time.Time) (change, error) {
		var before *time.Time
		err := tx.QueryRow(ctx, `SELECT rotate_requested_at FROM vpn_accounts WHERE user_id = $1 AND external_id <> '' FOR UPDATE`,
			userID).Scan(&before)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := userExists(ctx, tx, userID); err != nil {
				return change{}, err
			}
			return change{}, fmt.Errorf("user %d: %w", userID, ErrNoAccount)
		}
		if err != nil {
			return change{}, fmt.Errorf("reading the account: %w", err)
		}
		if _, err := requestNewLink(ctx, tx, userID, now); err != nil {
			return change{}, fmt.Errorf("requesting a new link: %w", err)
		}
		inUTCOpt(&before)
		after := now
		if before != nil {
			after = *before
		}
		return change{
			target: userID,
			before: map[string]any{"rotate_requested_at": before},
			after:  map[string]any{"rotate_requested_at": after},
		}, nil
	})
}

// AdminRefund refunds the payment of invoice invoiceID (ActionRefund) as
// Refund does (RefundKey, whatever the provider), with its audit row, in
// one transaction; Entry is the reversal. The state recorded is the
// invoice_id and what the reversal changed: the period's expires_at, the
// balance in its currency; after also says what money went back ("money",
// "currency") and "reversed" true.
//
// An invoice refunded before, by another action or /refund, is not
// reversed again: the action is recorded with "reversed" false, and Entry
// is the earlier reversal, so the caller can retry giving the money back.
// The caller gives Stars back through Telegram; a Crypto Pay refund is the
// ledger reversal alone, the money returned by hand (act.Note says how).
// ErrNotPaid and ErrInsufficientBalance (a top-up spent since) record
// nothing.
func (s *Shop) AdminRefund(ctx context.Context, act Act, invoiceID int64) (AdminResult, error) {
	var userID int64
	err := s.pool.QueryRow(ctx, `SELECT user_id FROM invoices WHERE id = $1`, invoiceID).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrUnknownInvoice
	}
	if err != nil {
		return AdminResult{}, fmt.Errorf("refunding invoice %d: %w", invoiceID, err)
	}
	res, err := s.adminAct(ctx, act, ActionRefund, userID, RefundKey(invoiceID), func(tx pgx.Tx, now time.Time) (change, error) {
		var e Entry
		// A savepoint: a refund made before must leave no trace of
		// this one (refund may have shortened the period first).
		err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			var err error
			e, err = refund(ctx, sp, invoiceID, now)
			return err
		})
		c := change{target: userID, before: map[string]any{"invoice_id": invoiceID}, after: map[string]any{"invoice_id": invoiceID}}
		if errors.Is(err, errPostedBefore) {
			c.after["reversed"] = false
			return c, nil
		}
		if err != nil {
			return change{}, err
		}
		c.after["reversed"] = true
		c.after["currency"], c.after["money"] = e.Currency, -e.Money
		if e.Duration != 0 {
			sub, err := subscriptionByID(ctx, tx, e.SubscriptionID)
			if err != nil {
				return change{}, fmt.Errorf("reading the period refunded: %w", err)
			}
			c.before["expires_at"], c.after["expires_at"] = sub.ExpiresAt.Add(-e.Duration), sub.ExpiresAt
		}
		if e.Amount != 0 {
			after, err := balance(ctx, tx, userID, e.Currency)
			if err != nil {
				return change{}, fmt.Errorf("reading the balance: %w", err)
			}
			c.before["balance"], c.after["balance"] = after-e.Amount, after
		}
		return c, nil
	})
	if err == nil && !res.Applied && res.Audit.After["invoice_id"] != json.Number(strconv.FormatInt(invoiceID, 10)) {
		return AdminResult{}, fmt.Errorf("refunding invoice %d (%s): %w: it refunded invoice %v",
			invoiceID, act.OpKey, ErrActConflict, res.Audit.After["invoice_id"])
	}
	return res, err
}

// AdminMessage records a message an admin sends the user (ActionMessage,
// after: text); the caller publishes it with act.OpKey as its dedup id.
func (s *Shop) AdminMessage(ctx context.Context, act Act, userID int64, text string) (AdminResult, error) {
	if text == "" {
		return AdminResult{}, fmt.Errorf("messaging user %d: no text", userID)
	}
	return s.adminAct(ctx, act, ActionMessage, userID, "", func(tx pgx.Tx, _ time.Time) (change, error) {
		if err := userExists(ctx, tx, userID); err != nil {
			return change{}, err
		}
		return change{target: userID, after: map[string]any{"text": text}}, nil
	})
}
