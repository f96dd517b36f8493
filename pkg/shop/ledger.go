package shop

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Currencies of balances and ledger rows. Amounts are in minor units: cents
// of USD, whole stars of XTR.
const (
	CurrencyUSD = "USD"
	CurrencyXTR = "XTR"
)

// Kinds of ledger row, as stored.
const (
	LedgerPayment  = "payment"  // a plan paid with a provider
	LedgerTopUp    = "topup"    // the balance topped up with a provider
	LedgerPurchase = "purchase" // a plan paid from the balance
	LedgerTrial    = "trial"    // the free trial
	LedgerRefund   = "refund"   // a payment or top-up given back
	LedgerPromo    = "promo"    // what a promo code gave
	LedgerReferral = "referral" // a referral reward
	LedgerRenewal  = "renewal"  // an automatic renewal from the balance
	LedgerGrant    = "grant"    // an admin's grant
)

var (
	// ErrInsufficientBalance: the user's balance in that currency is
	// smaller than what the operation takes from it; nothing changed.
	ErrInsufficientBalance = errors.New("insufficient balance")
	// ErrUnknownCurrency: the currency is neither USD nor XTR.
	ErrUnknownCurrency = errors.New("unknown currency")
)

// constraintBalance is the check that keeps a balance from going negative.
const constraintBalance = "balances_amount_check"

// Entry is one row of the ledger: one movement of money or access.
type Entry struct {
	ID int64
	// OpKey names the operation, once: "payment:42", "purchase:<request>".
	OpKey  string
	UserID int64
	Kind   string
	// Currency is that of Amount and Money; empty for a row that moves
	// neither (a trial, a grant of days).
	Currency string
	// Amount is what the row added to (negative: took from) the balance,
	// in minor units.
	Amount int64
	// Money is what the user paid a provider for the row (negative: got
	// back), in minor units.
	Money int64
	// Duration is the access the row added to (negative: took from)
	// SubscriptionID.
	Duration       time.Duration
	SubscriptionID int64
	InvoiceID      int64
	// Ref is what the row bought or undid: a plan id, a code, the op key a
	// refund reverses.
	Ref       string
	CreatedAt time.Time
}

const entryColumns = `id, op_key, user_id, kind, COALESCE(currency, ''), amount, money, duration,
	COALESCE(subscription_id, 0), COALESCE(invoice_id, 0), ref, created_at`

func scanEntry(row pgx.Row) (Entry, error) {
	var e Entry
	err := row.Scan(&e.ID, &e.OpKey, &e.UserID, &e.Kind, &e.Currency, &e.Amount, &e.Money, &e.Duration,
		&e.SubscriptionID, &e.InvoiceID, &e.Ref, &e.CreatedAt)
	if err != nil {
		return Entry{}, err
	}
	inUTC(&e.CreatedAt)
	return e, nil
}

// appendEntry inserts e, stamped now. posted is false, and nothing is
// written, when its op key is in the ledger already (a concurrent insert
// of the same key is waited for): the caller then rolls back whatever else
// it did in tx, since the operation happened before. A balance the row
// would take below zero is ErrInsufficientBalance.
func appendEntry(ctx context.Context, tx pgx.Tx, e Entry, now time.Time) (Entry, bool, error) {
	var sub, inv *int64
	if e.SubscriptionID != 0 {
		sub = &e.SubscriptionID
	}
	if e.InvoiceID != 0 {
		inv = &e.InvoiceID
	}
	got, err := scanEntry(tx.QueryRow(ctx, `
		INSERT INTO ledger (op_key, user_id, kind, currency, amount, money, duration, subscription_id, invoice_id, ref, created_at)
		VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (op_key) DO NOTHING
		RETURNING `+entryColumns,
		e.OpKey, e.UserID, e.Kind, e.Currency, e.Amount, e.Money, e.Duration, sub, inv, e.Ref, now))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Entry{}, false, nil
	case isCheckViolation(err, constraintBalance):
		return Entry{}, false, fmt.Errorf("%s: %w", e.OpKey, ErrInsufficientBalance)
	case isForeignKeyViolation(err):
		return Entry{}, false, fmt.Errorf("%s: %w", e.OpKey, ErrUnknownUser)
	case err != nil:
		return Entry{}, false, fmt.Errorf("recording %s: %w", e.OpKey, err)
	}
	return got, true, nil
}

// errPostedBefore rolls back an operation whose op key the ledger holds.
var errPostedBefore = errors.New("operation recorded before")

// postGrant grants e.Duration (positive) to the user's period as grant
// does, of kind for a period it starts, and appends e for that period, in
// tx. A key posted before is errPostedBefore, to roll tx back with.
func postGrant(ctx context.Context, tx pgx.Tx, e Entry, kind string, now time.Time) (Entry, error) {
	id, _, err := grant(ctx, tx, e.UserID, kind, now, e.Duration, false)
	if err != nil {
		return Entry{}, err
	}
	e.SubscriptionID = id
	got, posted, err := appendEntry(ctx, tx, e, now)
	if err != nil {
		return Entry{}, err
	}
	if !posted {
		return Entry{}, errPostedBefore
	}
	return got, nil
}

// EntryByKey returns the ledger row of the operation, or ErrUnknownEntry.
func (s *Shop) EntryByKey(ctx context.Context, opKey string) (Entry, error) {
	e, err := entryByKey(ctx, s.pool, opKey)
	if err != nil {
		return Entry{}, fmt.Errorf("reading ledger row %s: %w", opKey, err)
	}
	return e, nil
}

// ErrUnknownEntry: no ledger row has that op key.
var ErrUnknownEntry = errors.New("unknown ledger row")

func entryByKey(ctx context.Context, q querier, opKey string) (Entry, error) {
	e, err := scanEntry(q.QueryRow(ctx, `SELECT `+entryColumns+` FROM ledger WHERE op_key = $1`, opKey))
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, ErrUnknownEntry
	}
	return e, err
}

// Balance is what a user holds in one currency, in minor units.
type Balance struct {
	Currency string
	Amount   int64
}

// balancesSQL is a user's non-zero balances, USD first.
const balancesSQL = `SELECT currency, amount FROM balances
	WHERE user_id = $1 AND amount > 0 ORDER BY currency <> 'USD', currency`

// Balances returns the user's non-zero balances, USD first.
func (s *Shop) Balances(ctx context.Context, userID int64) ([]Balance, error) {
	rows, err := s.pool.Query(ctx, balancesSQL, userID)
	if err != nil {
		return nil, fmt.Errorf("reading the balances of user %d: %w", userID, err)
	}
	bs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Balance])
	if err != nil {
		return nil, fmt.Errorf("reading the balances of user %d: %w", userID, err)
	}
	return bs, nil
}

// Balance returns the user's balance in currency (0 when they never had one).
func (s *Shop) Balance(ctx context.Context, userID int64, currency string) (int64, error) {
	var amount int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE((SELECT amount FROM balances WHERE user_id = $1 AND currency = $2), 0)`,
		userID, currency).Scan(&amount)
	if err != nil {
		return 0, fmt.Errorf("reading the %s balance of user %d: %w", currency, userID, err)
	}
	return amount, nil
}

// History returns the user's latest ledger rows, newest first.
func (s *Shop) History(ctx context.Context, userID int64, limit int) ([]Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+entryColumns+` FROM ledger WHERE user_id = $1 ORDER BY id DESC LIMIT $2`,
		userID, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the history of user %d: %w", userID, err)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) { return scanEntry(row) })
	if err != nil {
		return nil, fmt.Errorf("reading the history of user %d: %w", userID, err)
	}
	return es, nil
}

// PlanPrice is what plan p costs in currency, in minor units.
func PlanPrice(p Plan, currency string) (int64, error) {
	switch currency {
	case CurrencyUSD:
		return ParseCents(p.PriceUSD)
	case CurrencyXTR:
		return int64(p.PriceStars), nil
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownCurrency, currency)
}

// ParseCents reads a two-decimal amount of dollars ("4.99", "5") as cents.
func ParseCents(usd string) (int64, error) {
	whole, frac, _ := cutDecimal(usd)
	if len(frac) > 2 {
		return 0, fmt.Errorf("amount %q: more than two decimals", usd)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", usd, err)
	}
	if w > math.MaxInt64/100-1 {
		return 0, fmt.Errorf("amount %q: too large", usd)
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || w < 0 {
		return 0, fmt.Errorf("amount %q is not a number of dollars", usd)
	}
	return w*100 + f, nil
}

func cutDecimal(s string) (whole, frac string, found bool) {
	for i := range len(s) {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// FormatCents writes cents as dollars with two decimals ("4.99").
func FormatCents(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

// Purchase is a plan bought from the balance.
type Purchase struct {
	Entry Entry
	// Sub is the period the purchase extended or started, as it is now.
	Sub Subscription
}

// BuyFromBalance pays plan planID from the user's balance in currency and
// extends their period by the plan's duration, once per opKey (the
// request's: a press retried, or pressed on two replicas, buys once). The
// price is the plan's at that instant less the discount the user holds,
// which the purchase spends (see PlansFor). applied is false when opKey
// bought before: p is then that purchase. A balance short of the price is
// ErrInsufficientBalance, decided by the database under any concurrency.
func (s *Shop) BuyFromBalance(ctx context.Context, opKey string, userID int64, planID, currency string) (p Purchase, applied bool, err error) {
	if opKey == "" {
		return Purchase{}, false, fmt.Errorf("buying plan %q from the balance of user %d: no operation key", planID, userID)
	}
	if currency != CurrencyUSD && currency != CurrencyXTR {
		return Purchase{}, false, fmt.Errorf("buying plan %q from the balance of user %d: %w %q", planID, userID, ErrUnknownCurrency, currency)
	}
	e := Entry{OpKey: opKey, UserID: userID, Kind: LedgerPurchase, Currency: currency, Ref: planID}
	return s.buyOnOffer(ctx, e)
}

// purchaseOf is the purchase posted under opKey before.
func (s *Shop) purchaseOf(ctx context.Context, opKey string) (Purchase, bool, error) {
	e, err := entryByKey(ctx, s.pool, opKey)
	if err != nil {
		return Purchase{}, false, fmt.Errorf("reading the purchase %s: %w", opKey, err)
	}
	sub, err := subscriptionByID(ctx, s.pool, e.SubscriptionID)
	if err != nil {
		return Purchase{}, false, fmt.Errorf("reading the period of purchase %s: %w", opKey, err)
	}
	return Purchase{Entry: e, Sub: sub}, false, nil
}
