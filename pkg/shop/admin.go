package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stats is what /stats shows an admin. "Today" is since midnight UTC.
type Stats struct {
	Users int
	// ActiveSubscriptions counts periods active and not yet expired.
	ActiveSubscriptions int
	// Trials counts the trials ever taken.
	Trials int
	// PaymentsToday counts today's payments and top-ups.
	PaymentsToday int
	// RevenueTodayUSD is today's money in USD, net of refunds ("12.34").
	RevenueTodayUSD string
	// StarsToday is today's Telegram Stars, net of refunds.
	StarsToday int
	// Sources are today's movements of money by source (payments, top-ups,
	// refunds) and currency, in that order.
	Sources []Revenue
	// AutoRenewals counts the users with auto-renewal on.
	AutoRenewals int
	// PromoUses counts the uses of promo codes, ever; Referrals the users
	// who came by an invite link, and ReferralRewards the rewards given.
	PromoUses, Referrals, ReferralRewards int
}

// Revenue is the money of one source in one currency.
type Revenue struct {
	// Kind is the ledger kind: LedgerPayment, LedgerTopUp, LedgerRefund.
	Kind     string
	Currency string
	Count    int
	// Money is in minor units; negative for refunds.
	Money int64
}

// Stats counts users, subscriptions, trials, today's money (read from the
// ledger), auto-renewals, promo code uses and referrals.
func (s *Shop) Stats(ctx context.Context) (Stats, error) {
	now := s.now()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	var st Stats
	var usdCents int64
	err := s.pool.QueryRow(ctx, `
		WITH money AS (SELECT kind, currency, money FROM ledger WHERE money <> 0 AND created_at >= $2)
		SELECT (SELECT count(*) FROM users),
		       (SELECT count(*) FROM subscriptions WHERE status = 'active' AND expires_at > $1),
		       (SELECT count(*) FROM trials),
		       (SELECT count(*) FROM money WHERE kind IN ('payment', 'topup')),
		       (SELECT COALESCE(sum(money), 0) FROM money WHERE currency = 'USD'),
		       (SELECT COALESCE(sum(money), 0) FROM money WHERE currency = 'XTR'),
		       (SELECT count(*) FROM auto_renewals WHERE enabled),
		       (SELECT count(*) FROM promo_uses),
		       (SELECT count(*) FROM referrals),
		       (SELECT count(*) FROM ledger WHERE kind = 'referral')`,
		now, midnight).Scan(&st.Users, &st.ActiveSubscriptions, &st.Trials, &st.PaymentsToday, &usdCents, &st.StarsToday,
		&st.AutoRenewals, &st.PromoUses, &st.Referrals, &st.ReferralRewards)
	if err != nil {
		return Stats{}, fmt.Errorf("counting the stats: %w", err)
	}
	st.RevenueTodayUSD = FormatCents(usdCents)
	rows, err := s.pool.Query(ctx, `
		SELECT kind, currency, count(*), sum(money) FROM ledger WHERE money <> 0 AND created_at >= $1
		GROUP BY kind, currency
		ORDER BY array_position(ARRAY['payment', 'topup', 'refund'], kind), currency <> 'USD'`, midnight)
	if err == nil {
		st.Sources, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Revenue])
	}
	if err != nil {
		return Stats{}, fmt.Errorf("counting today's money by source: %w", err)
	}
	return st, nil
}

// userInfoInvoices is how many of a user's latest invoices UserInfo lists.
const userInfoInvoices = 10

// UserInfo is what /user shows an admin about one user.
type UserInfo struct {
	ID           int64
	ChatID       int64
	Username     string
	FirstName    string
	LanguageCode string
	Language     string
	StartParam   string
	// BlockedAt is when the user was seen to have blocked the bot.
	BlockedAt *time.Time
	CreatedAt time.Time
	// Trial is when the user took their trial; nil if never.
	Trial *time.Time
	// Subscription is the user's latest period (active or not); nil if none.
	Subscription *Subscription
	// Invoices are the user's latest invoices, newest first.
	Invoices []Invoice
}

// UserInfo returns what is known about a user, or ErrUnknownUser.
func (s *Shop) UserInfo(ctx context.Context, userID int64) (UserInfo, error) {
	var u UserInfo
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, COALESCE(u.chat_id, 0), COALESCE(u.username, ''), COALESCE(u.first_name, ''),
		       COALESCE(u.language_code, ''), u.language, COALESCE(u.start_param, ''), u.blocked_at, u.created_at,
		       t.started_at
		FROM users u LEFT JOIN trials t ON t.user_id = u.id
		WHERE u.id = $1`, userID).Scan(&u.ID, &u.ChatID, &u.Username, &u.FirstName, &u.LanguageCode, &u.Language,
		&u.StartParam, &u.BlockedAt, &u.CreatedAt, &u.Trial)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrUnknownUser
	}
	if err != nil {
		return UserInfo{}, fmt.Errorf("reading user %d: %w", userID, err)
	}
	inUTC(&u.CreatedAt)
	inUTCOpt(&u.BlockedAt, &u.Trial)
	sub, err := scanSubscription(s.pool.QueryRow(ctx,
		subscriptionSelect+` WHERE s.user_id = $1 ORDER BY s.id DESC LIMIT 1`, userID))
	switch {
	case err == nil:
		u.Subscription = &sub
	case !errors.Is(err, pgx.ErrNoRows):
		return UserInfo{}, fmt.Errorf("reading the latest subscription of user %d: %w", userID, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE user_id = $1 ORDER BY id DESC LIMIT $2`,
		userID, userInfoInvoices)
	if err == nil {
		u.Invoices, err = collectInvoices(rows)
	}
	if err != nil {
		return UserInfo{}, fmt.Errorf("listing the invoices of user %d: %w", userID, err)
	}
	return u, nil
}
