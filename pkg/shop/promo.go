package shop

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of promo code, as stored.
const (
	// PromoPercent takes a share off both prices of the user's next order
	// of a plan.
	PromoPercent = "percent"
	// PromoFixed takes an amount of USD off the next order's USD price;
	// its Stars price loses the same share, so that the code is worth as
	// much whichever way the user pays.
	PromoFixed = "fixed"
	// PromoDays gives days of access at once.
	PromoDays = "days"
	// PromoCredit adds USD to the user's balance at once.
	PromoCredit = "credit"
)

// Errors of promo codes. Each is returned wrapped, with the code.
var (
	// ErrInvalidPromo: CreatePromo was given terms a code cannot have.
	ErrInvalidPromo = errors.New("invalid promo code")
	// ErrPromoExists: a code of that name exists, switched off or not.
	ErrPromoExists = errors.New("promo code exists")
	// ErrUnknownPromo: no code has that name.
	ErrUnknownPromo = errors.New("unknown promo code")
	// ErrPromoOff: an admin switched the code off.
	ErrPromoOff = errors.New("promo code switched off")
	// ErrPromoExpired: the code's time is over.
	ErrPromoExpired = errors.New("promo code expired")
	// ErrPromoUsedUp: the code was used as often as its limit allows.
	ErrPromoUsedUp = errors.New("promo code used up")
	// ErrPromoUsed: the user used the code as often as it allows one user.
	ErrPromoUsed = errors.New("promo code already used")
	// ErrPromoFirstPurchase: the code is for users who have paid for
	// nothing yet, and the user has.
	ErrPromoFirstPurchase = errors.New("promo code for a first purchase only")
	// ErrPromoHeld: the user holds a discount for their next order
	// already; one at a time.
	ErrPromoHeld = errors.New("a discount is held already")
)

// Constraints of promo_uses that RedeemPromo translates.
const (
	constraintOneHeld      = "promo_uses_one_held"
	constraintPromoPerUser = "promo_uses_code_id_user_id_n_key"
)

// promoCode is what a code can be: what a deep link (/start promo_<code>)
// carries, in capitals.
var promoCode = regexp.MustCompile(`^[A-Z0-9_-]{3,32}$`)

// NormalizePromoCode returns code as stored: trimmed and in capitals. ok is
// false when it cannot be a code, so that a text that is not one is told
// apart without asking the database.
func NormalizePromoCode(code string) (normalized string, ok bool) {
	c := strings.ToUpper(strings.TrimSpace(code))
	return c, promoCode.MatchString(c)
}

// NewPromo is a code to make.
type NewPromo struct {
	Code string
	Kind string
	// Percent is the share off of a PromoPercent code, 1 to 99.
	Percent int
	// OffUSD is the cents off of a PromoFixed code.
	OffUSD int64
	// Duration is the access a PromoDays code gives, in whole days.
	Duration time.Duration
	// CreditUSD is the cents a PromoCredit code adds to the balance.
	CreditUSD int64
	// MaxUses bounds the uses by all users; 0 for no limit.
	MaxUses int
	// PerUser bounds the uses by one user (default 1).
	PerUser int
	// ExpiresAt is when the code can no longer be entered; zero for never.
	ExpiresAt time.Time
	// FirstOnly keeps the code for users with no payment nor purchase.
	FirstOnly bool
	// CreatedBy is the admin who made it.
	CreatedBy int64
}

// Promo is a promo code, with the count of its uses.
type Promo struct {
	ID        int64
	Code      string
	Kind      string
	Percent   int
	OffUSD    int64
	Duration  time.Duration
	CreditUSD int64
	// MaxUses is 0 for a code without a limit.
	MaxUses int
	Uses    int
	PerUser int
	// ExpiresAt is nil for a code that never expires.
	ExpiresAt *time.Time
	FirstOnly bool
	// DisabledAt is when an admin switched the code off; nil while on.
	DisabledAt *time.Time
	CreatedBy  int64
	CreatedAt  time.Time
}

// Discount reports whether the code is a discount, held for the user's
// next order, rather than given at once.
func (p Promo) Discount() bool { return p.Kind == PromoPercent || p.Kind == PromoFixed }

const promoColumns = `id, code, kind, COALESCE(percent, 0), COALESCE(off_usd, 0), COALESCE(duration, interval '0'),
	COALESCE(credit_usd, 0), COALESCE(max_uses, 0), uses, per_user, expires_at, first_only, disabled_at,
	created_by, created_at`

func scanPromo(row pgx.Row) (Promo, error) {
	var p Promo
	err := row.Scan(&p.ID, &p.Code, &p.Kind, &p.Percent, &p.OffUSD, &p.Duration, &p.CreditUSD, &p.MaxUses, &p.Uses,
		&p.PerUser, &p.ExpiresAt, &p.FirstOnly, &p.DisabledAt, &p.CreatedBy, &p.CreatedAt)
	if err != nil {
		return Promo{}, err
	}
	inUTC(&p.CreatedAt)
	inUTCOpt(&p.ExpiresAt, &p.DisabledAt)
	return p, nil
}

// CreatePromo makes a code. A name taken already, by a code switched off
// too, is ErrPromoExists; terms no code can have are ErrInvalidPromo.
func (s *Shop) CreatePromo(ctx context.Context, n NewPromo) (Promo, error) {
	code, ok := NormalizePromoCode(n.Code)
	if !ok {
		return Promo{}, fmt.Errorf("creating promo code %q: %w: 3 to 32 letters, digits, _ or -", n.Code, ErrInvalidPromo)
	}
	if err := n.check(); err != nil {
		return Promo{}, fmt.Errorf("creating promo code %s: %w: %w", code, ErrInvalidPromo, err)
	}
	var percent, offUSD, creditUSD, maxUses *int64
	var duration *time.Duration
	var expires *time.Time
	switch n.Kind {
	case PromoPercent:
		percent = new(int64(n.Percent))
	case PromoFixed:
		offUSD = &n.OffUSD
	case PromoDays:
		duration = &n.Duration
	case PromoCredit:
		creditUSD = &n.CreditUSD
	}
	if n.MaxUses > 0 {
		maxUses = new(int64(n.MaxUses))
	}
	if !n.ExpiresAt.IsZero() {
		expires = &n.ExpiresAt
	}
	p, err := scanPromo(s.pool.QueryRow(ctx, `
		INSERT INTO promo_codes (code, kind, percent, off_usd, duration, credit_usd, max_uses, per_user, expires_at,
		                         first_only, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (code) DO NOTHING
		RETURNING `+promoColumns,
		code, n.Kind, percent, offUSD, duration, creditUSD, maxUses, max(n.PerUser, 1), expires, n.FirstOnly,
		n.CreatedBy, s.now()))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = ErrPromoExists
	case pgError(err) != nil && pgError(err).Code == "23514":
		err = fmt.Errorf("%w: %w", ErrInvalidPromo, err)
	}
	if err != nil {
		return Promo{}, fmt.Errorf("creating promo code %s: %w", code, err)
	}
	return p, nil
}

// check tells what is wrong with the terms, which the database would refuse
// with less to say.
func (n NewPromo) check() error {
	switch {
	case n.Kind == PromoPercent && (n.Percent < 1 || n.Percent > 99):
		return fmt.Errorf("%d%% off: from 1 to 99", n.Percent)
	case n.Kind == PromoFixed && n.OffUSD <= 0:
		return fmt.Errorf("%d cents off: more than none", n.OffUSD)
	case n.Kind == PromoDays && (n.Duration <= 0 || n.Duration%(24*time.Hour) != 0):
		return fmt.Errorf("%s of access: whole days", n.Duration)
	case n.Kind == PromoCredit && n.CreditUSD <= 0:
		return fmt.Errorf("a credit of %d cents: more than none", n.CreditUSD)
	case n.Kind != PromoPercent && n.Kind != PromoFixed && n.Kind != PromoDays && n.Kind != PromoCredit:
		return fmt.Errorf("kind %q", n.Kind)
	case n.MaxUses < 0 || n.PerUser < 0:
		return fmt.Errorf("limits %d in all, %d per user", n.MaxUses, n.PerUser)
	}
	return nil
}

// Promo returns the code (in any case), or ErrUnknownPromo.
func (s *Shop) Promo(ctx context.Context, code string) (Promo, error) {
	p, err := promoByCode(ctx, s.pool, code)
	if err != nil {
		return Promo{}, fmt.Errorf("reading promo code %q: %w", code, err)
	}
	return p, nil
}

func promoByCode(ctx context.Context, q querier, code string) (Promo, error) {
	c, _ := NormalizePromoCode(code)
	p, err := scanPromo(q.QueryRow(ctx, `SELECT `+promoColumns+` FROM promo_codes WHERE code = $1`, c))
	if errors.Is(err, pgx.ErrNoRows) {
		return Promo{}, ErrUnknownPromo
	}
	return p, err
}

// Promos returns the latest limit codes, newest first.
func (s *Shop) Promos(ctx context.Context, limit int) ([]Promo, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+promoColumns+` FROM promo_codes ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("listing promo codes: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Promo, error) { return scanPromo(row) })
	if err != nil {
		return nil, fmt.Errorf("listing promo codes: %w", err)
	}
	return ps, nil
}

// SwitchOffPromo switches the code off: nobody can enter it any more. The
// discounts users hold already stay theirs. A code off already is returned
// as it is.
func (s *Shop) SwitchOffPromo(ctx context.Context, code string) (Promo, error) {
	c, _ := NormalizePromoCode(code)
	p, err := scanPromo(s.pool.QueryRow(ctx, `UPDATE promo_codes SET disabled_at = $2
		WHERE code = $1 AND disabled_at IS NULL RETURNING `+promoColumns, c, s.now()))
	if errors.Is(err, pgx.ErrNoRows) {
		p, err = promoByCode(ctx, s.pool, c)
	}
	if err != nil {
		return Promo{}, fmt.Errorf("switching off promo code %q: %w", code, err)
	}
	return p, nil
}

// Redemption is one use of a code by a user.
type Redemption struct {
	Promo  Promo
	UserID int64
	// N numbers the user's uses of the code: 1 for the first.
	N int
	// Entry is the ledger row that gave the days or the credit; zero for a
	// discount, which is held for the user's next order.
	Entry Entry
	// Sub is the period the days extended or started, as it is now; zero
	// for other codes.
	Sub Subscription
	// Balance is the user's USD balance after a credit, in cents.
	Balance int64
}

// PromoKey is the op key of the ledger row of user's n-th use of code codeID.
func PromoKey(codeID, userID int64, n int) string {
	return fmt.Sprintf("promo:%d:%d:%d", codeID, userID, n)
}

// RedeemPromo uses the code (entered in any case) for the user, once per
// requestID (the message that entered it: its retry finds this use, with
// applied false). In one transaction the use is counted on the code, by an
// UPDATE conditional on its limit that every use of the code queues on,
// and recorded as the user's n-th use, which the database keeps within the
// code's per-user limit; days or a credit are given by a ledger row of kind
// LedgerPromo (PromoKey), the days as a grant does: from the later of now
// and the user's active period's expiry, or as a new period. A discount is
// held for the user's next order of a plan (see PlansFor).
//
// A code that cannot be used is ErrUnknownPromo, ErrPromoOff,
// ErrPromoExpired or ErrPromoUsedUp; ErrPromoUsed when the user used it up,
// ErrPromoFirstPurchase when it is for a first purchase and the user has a
// payment or purchase in the ledger (as committed when the use is counted),
// ErrPromoHeld for a discount while the user holds one, ErrUnknownUser for a
// user who never started the bot. Nothing changes then.
func (s *Shop) RedeemPromo(ctx context.Context, requestID string, userID int64, code string) (r Redemption, applied bool, err error) {
	if requestID == "" {
		return Redemption{}, false, fmt.Errorf("redeeming promo code %q for user %d: no request id", code, userID)
	}
	c, ok := NormalizePromoCode(code)
	if !ok {
		return Redemption{}, false, fmt.Errorf("redeeming promo code %q for user %d: %w", code, userID, ErrUnknownPromo)
	}
	now := s.now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		r, err = redeem(ctx, tx, requestID, userID, c, now)
		return err
	})
	if err == nil {
		return r, true, nil
	}
	// The request's retry finds its use; it fails on that use, as a use
	// over the per-user limit or of a request recorded already.
	before, found, rerr := s.redemptionOf(ctx, requestID)
	switch {
	case rerr != nil:
		err = errors.Join(err, rerr)
	case found && (before.UserID != userID || before.Promo.Code != c):
		err = fmt.Errorf("%w: request %q used code %s for user %d", ErrRequestConflict, requestID, before.Promo.Code, before.UserID)
	case found:
		return before, false, nil
	}
	return Redemption{}, false, fmt.Errorf("redeeming promo code %s for user %d: %w", c, userID, err)
}

// redeem is RedeemPromo's transaction.
func redeem(ctx context.Context, tx pgx.Tx, requestID string, userID int64, code string, now time.Time) (Redemption, error) {
	p, err := scanPromo(tx.QueryRow(ctx, `
		UPDATE promo_codes SET uses = uses + 1
		WHERE code = $1 AND disabled_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		  AND (max_uses IS NULL OR uses < max_uses)
		RETURNING `+promoColumns, code, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return Redemption{}, unusable(ctx, tx, code, now)
	}
	if err != nil {
		return Redemption{}, fmt.Errorf("counting the use: %w", err)
	}
	// The code's row is locked until commit, so the uses counted here are
	// all those committed: the next number is the count's.
	r := Redemption{Promo: p, UserID: userID}
	var spent *string
	err = tx.QueryRow(ctx, `
		INSERT INTO promo_uses (code_id, user_id, n, request_id, spent_op, spent_at, created_at)
		SELECT $1, $2, count(*) + 1, $3,
		       CASE WHEN $4 THEN 'promo:' || $1::bigint || ':' || $2::bigint || ':' || (count(*) + 1) END,
		       CASE WHEN $4 THEN $5::timestamptz END, $5
		FROM promo_uses WHERE code_id = $1 AND user_id = $2
		HAVING count(*) < $6
		   AND NOT ($7 AND EXISTS (SELECT 1 FROM ledger WHERE user_id = $2 AND kind IN ('payment', 'purchase')))
		RETURNING n, spent_op`,
		p.ID, userID, requestID, !p.Discount(), now, p.PerUser, p.FirstOnly).Scan(&r.N, &spent)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Redemption{}, usedOrNotFirst(ctx, tx, p, userID)
	case isUniqueViolation(err, constraintOneHeld):
		return Redemption{}, fmt.Errorf("%s: %w", code, ErrPromoHeld)
	case isUniqueViolation(err, constraintPromoPerUser):
		return Redemption{}, fmt.Errorf("%s: %w", code, ErrPromoUsed)
	case isForeignKeyViolation(err):
		return Redemption{}, ErrUnknownUser
	case err != nil:
		return Redemption{}, fmt.Errorf("recording the use: %w", err)
	}
	if spent == nil {
		return r, nil
	}
	e := Entry{OpKey: *spent, UserID: userID, Kind: LedgerPromo, Ref: p.Code}
	switch p.Kind {
	case PromoDays:
		e.Duration = p.Duration
		if r.Entry, err = postGrant(ctx, tx, e, KindPaid, now); err != nil {
			return Redemption{}, err
		}
		r.Sub, err = subscriptionByID(ctx, tx, r.Entry.SubscriptionID)
		return r, err
	case PromoCredit:
		e.Currency, e.Amount = CurrencyUSD, p.CreditUSD
		var posted bool
		if r.Entry, posted, err = appendEntry(ctx, tx, e, now); err != nil {
			return Redemption{}, err
		}
		if !posted {
			return Redemption{}, errPostedBefore
		}
		r.Balance, err = balance(ctx, tx, userID, CurrencyUSD)
		return r, err
	}
	return Redemption{}, fmt.Errorf("promo code %s of kind %q gives nothing", p.Code, p.Kind)
}

// unusable says why code could not be counted: it does not exist, is off,
// expired, or used up.
func unusable(ctx context.Context, q querier, code string, now time.Time) error {
	p, err := promoByCode(ctx, q, code)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", code, err)
	case p.DisabledAt != nil:
		return fmt.Errorf("%s: %w", code, ErrPromoOff)
	case p.ExpiresAt != nil && !now.Before(*p.ExpiresAt):
		return fmt.Errorf("%s (expired %s): %w", code, p.ExpiresAt.Format(time.RFC3339), ErrPromoExpired)
	}
	return fmt.Errorf("%s (%d uses): %w", code, p.Uses, ErrPromoUsedUp)
}

// usedOrNotFirst says why the user could not use p: they used it up, or it
// is for a first purchase.
func usedOrNotFirst(ctx context.Context, q querier, p Promo, userID int64) error {
	var uses int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM promo_uses WHERE code_id = $1 AND user_id = $2`,
		p.ID, userID).Scan(&uses); err != nil {
		return fmt.Errorf("counting the uses of %s by user %d: %w", p.Code, userID, err)
	}
	if uses >= p.PerUser {
		return fmt.Errorf("%s (%d uses by the user): %w", p.Code, uses, ErrPromoUsed)
	}
	return fmt.Errorf("%s: %w", p.Code, ErrPromoFirstPurchase)
}

func balance(ctx context.Context, q querier, userID int64, currency string) (int64, error) {
	var amount int64
	err := q.QueryRow(ctx, `SELECT COALESCE((SELECT amount FROM balances WHERE user_id = $1 AND currency = $2), 0)`,
		userID, currency).Scan(&amount)
	return amount, err
}

// redemptionOf is the use recorded for requestID, as it is now.
func (s *Shop) redemptionOf(ctx context.Context, requestID string) (Redemption, bool, error) {
	var codeID int64
	var spent string
	var r Redemption
	err := s.pool.QueryRow(ctx, `SELECT code_id, user_id, n, COALESCE(spent_op, '') FROM promo_uses WHERE request_id = $1`,
		requestID).Scan(&codeID, &r.UserID, &r.N, &spent)
	if errors.Is(err, pgx.ErrNoRows) {
		return Redemption{}, false, nil
	}
	if err == nil {
		r.Promo, err = scanPromo(s.pool.QueryRow(ctx, `SELECT `+promoColumns+` FROM promo_codes WHERE id = $1`, codeID))
	}
	if err == nil && spent != "" && !r.Promo.Discount() {
		r.Entry, err = entryByKey(ctx, s.pool, spent)
	}
	switch {
	case err != nil:
	case r.Promo.Kind == PromoDays:
		r.Sub, err = subscriptionByID(ctx, s.pool, r.Entry.SubscriptionID)
	case r.Promo.Kind == PromoCredit:
		r.Balance, err = balance(ctx, s.pool, r.UserID, CurrencyUSD)
	}
	if err != nil {
		return Redemption{}, false, fmt.Errorf("reading the promo use of request %q: %w", requestID, err)
	}
	return r, true, nil
}

// Discount is a discount a user holds for their next order of a plan.
type Discount struct {
	Code string
	// Kind is PromoPercent or PromoFixed.
	Kind    string
	Percent int
	OffUSD  int64
}

// heldDiscount is the discount the user holds, or nil.
func heldDiscount(ctx context.Context, q querier, userID int64) (*Discount, error) {
	var d Discount
	err := q.QueryRow(ctx, `
		SELECT c.code, c.kind, COALESCE(c.percent, 0), COALESCE(c.off_usd, 0)
		FROM promo_uses u JOIN promo_codes c ON c.id = u.code_id
		WHERE u.user_id = $1 AND u.spent_op IS NULL`, userID).Scan(&d.Code, &d.Kind, &d.Percent, &d.OffUSD)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// discountedSQL is price (an expression in minor units) less the discount
// held, h: its percent off, or the share of the USD price (usd, in cents)
// that its fixed amount is, rounded to the nearest unit. A price stays at
// least one unit: payment providers take no less.
func discountedSQL(price, usd string) string {
	return `CASE WHEN h.percent IS NOT NULL THEN GREATEST(1, round(` + price + ` * (100 - h.percent) / 100.0))
		WHEN h.off_usd IS NOT NULL THEN GREATEST(1, round(` + price + ` * GREATEST(` + usd + ` - h.off_usd, 1) / ` + usd + `))
		ELSE ` + price + ` END`
}

// offerSQL is the plans on offer as user $1 is to pay for them now, named
// offer: their prices less the discount the user holds, and that discount's
// use (promo_use_id, NULL for none). Orders copy their prices from it in
// the statement that makes them, so an order costs what the plan and the
// discount were at that instant, and the plans the user is shown are priced
// by it, as their order will be.
var offerSQL = `(
	SELECT p.id, p.title_en, p.title_ru, p.duration, p.sort,
	       round(` + discountedSQL("(p.price_usd * 100)", "(p.price_usd * 100)") + ` / 100, 2) AS price_usd,
	       (` + discountedSQL("p.price_stars", "(p.price_usd * 100)") + `)::int AS price_stars,
	       h.id AS promo_use_id
	FROM plans p
	LEFT JOIN (SELECT u.id, c.percent, c.off_usd FROM promo_uses u JOIN promo_codes c ON c.id = u.code_id
	           WHERE u.user_id = $1 AND u.spent_op IS NULL) h ON true
	WHERE p.active) offer`

// heldUseSQL is the id of the discount user $1 holds (NULL for none).
const heldUseSQL = `(SELECT id FROM promo_uses WHERE user_id = $1 AND spent_op IS NULL)`

// PlansFor is Plans as the user is to pay for them: at the prices of their
// next order, less the discount they hold (nil when none).
func (s *Shop) PlansFor(ctx context.Context, userID int64) ([]Plan, *Discount, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+planColumns+` FROM `+offerSQL+` ORDER BY sort, id`, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("listing the plans of user %d: %w", userID, err)
	}
	plans, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Plan, error) { return scanPlan(row) })
	if err != nil {
		return nil, nil, fmt.Errorf("listing the plans of user %d: %w", userID, err)
	}
	d, err := heldDiscount(ctx, s.pool, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the discount of user %d: %w", userID, err)
	}
	return plans, d, nil
}

// PlanFor is Plan as the user is to pay for it, as PlansFor.
func (s *Shop) PlanFor(ctx context.Context, userID int64, planID string) (Plan, *Discount, error) {
	p, err := scanPlan(s.pool.QueryRow(ctx, `SELECT `+planColumns+` FROM `+offerSQL+` WHERE id = $2`, userID, planID))
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrUnknownPlan
	}
	if err != nil {
		return Plan{}, nil, fmt.Errorf("reading plan %q for user %d: %w", planID, userID, err)
	}
	d, err := heldDiscount(ctx, s.pool, userID)
	if err != nil {
		return Plan{}, nil, fmt.Errorf("reading the discount of user %d: %w", userID, err)
	}
	return p, d, nil
}

// spendOrderPromo spends the discount invoiceID was ordered with, if any, on
// its payment opKey. A discount that another payment or purchase spent
// first stays spent by it: this payment was made at the price its order
// offered, and stands.
func spendOrderPromo(ctx context.Context, tx pgx.Tx, invoiceID int64, opKey string, now time.Time) error {
	_, err := tx.Exec(ctx, `
		UPDATE promo_uses u SET spent_op = $2, spent_at = $3
		FROM invoices i WHERE i.id = $1 AND u.id = i.promo_use_id AND u.spent_op IS NULL`, invoiceID, opKey, now)
	if err != nil {
		return fmt.Errorf("spending the discount of invoice %d: %w", invoiceID, err)
	}
	return nil
}

// promoSpentElsewhere reports whether the discount invoiceID was ordered
// with went to another payment or purchase, so that its checkout is refused
// and one discount pays for one order.
func promoSpentElsewhere(ctx context.Context, q querier, invoiceID int64) (bool, error) {
	var spent bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM invoices i JOIN promo_uses u ON u.id = i.promo_use_id
		WHERE i.id = $1 AND u.spent_op IS NOT NULL AND u.spent_op <> 'payment:' || i.id)`, invoiceID).Scan(&spent)
	return spent, err
}

// buyOnOffer posts e, a purchase from the balance of plan e.Ref in
// e.Currency, at the plan's price and duration as the user is offered them
// (offerSQL), and spends the discount that price had. The discount is
// locked first, so a payment or purchase spending it at the same time
// either waits for this one and finds it spent, or spent it before this
// one reads the price.
func (s *Shop) buyOnOffer(ctx context.Context, e Entry) (Purchase, bool, error) {
	now := s.now()
	var p Purchase
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT id FROM promo_uses WHERE user_id = $1 AND spent_op IS NULL FOR UPDATE`, e.UserID)
		if err != nil {
			return fmt.Errorf("locking the discount: %w", err)
		}
		var price int64
		var useID *int64
		err = tx.QueryRow(ctx, `
			SELECT CASE $3 WHEN 'XTR' THEN price_stars::bigint ELSE (price_usd * 100)::bigint END, duration, promo_use_id
			FROM `+offerSQL+` WHERE id = $2`, e.UserID, e.Ref, e.Currency).Scan(&price, &e.Duration, &useID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUnknownPlan
		}
		if err != nil {
			return fmt.Errorf("reading the price: %w", err)
		}
		e.Amount = -price
		if p.Entry, err = postGrant(ctx, tx, e, KindPaid, now); err != nil {
			return err
		}
		if useID != nil {
			tag, err := tx.Exec(ctx, `UPDATE promo_uses SET spent_op = $2, spent_at = $3 WHERE id = $1 AND spent_op IS NULL`,
				*useID, e.OpKey, now)
			if err != nil {
				return fmt.Errorf("spending the discount: %w", err)
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("the discount of promo use %d was spent meanwhile", *useID)
			}
		}
		p.Sub, err = subscriptionByID(ctx, tx, p.Entry.SubscriptionID)
		return err
	})
	if errors.Is(err, errPostedBefore) {
		return s.purchaseOf(ctx, e.OpKey)
	}
	if err != nil {
		return Purchase{}, false, fmt.Errorf("buying plan %q from the balance of user %d (%s): %w", e.Ref, e.UserID, e.OpKey, err)
	}
	return p, true, nil
}

// PromoUsage is how much one code was used, for checking its limits (the
// soak does, under faults): Uses never exceeds MaxUses (when set), Uses is
// Recorded, the count of its uses, and no user has more than PerUser of
// them (MostByOneUser).
type PromoUsage struct {
	Code    string
	Uses    int
	MaxUses int
	PerUser int
	// Recorded counts the code's promo_uses rows.
	Recorded int
	// MostByOneUser is the most uses one user has of the code.
	MostByOneUser int
	// Given counts the ledger rows of kind LedgerPromo the code's uses
	// wrote (days, credit); every use of such a code has one.
	Given int
}

// Violation says how the usage breaks the limits, or is nil.
func (u PromoUsage) Violation() error {
	switch {
	case u.MaxUses > 0 && u.Uses > u.MaxUses:
		return fmt.Errorf("promo code %s used %d times, over its limit of %d", u.Code, u.Uses, u.MaxUses)
	case u.Uses != u.Recorded:
		return fmt.Errorf("promo code %s counts %d uses but has %d recorded", u.Code, u.Uses, u.Recorded)
	case u.MostByOneUser > u.PerUser:
		return fmt.Errorf("promo code %s used %d times by one user, over its limit of %d", u.Code, u.MostByOneUser, u.PerUser)
	}
	return nil
}

// PromoUsage returns the usage of every code, oldest first.
func (s *Shop) PromoUsage(ctx context.Context) ([]PromoUsage, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.code, c.uses, COALESCE(c.max_uses, 0), c.per_user,
		       (SELECT count(*) FROM promo_uses u WHERE u.code_id = c.id),
		       COALESCE((SELECT max(cnt) FROM (SELECT count(*) AS cnt FROM promo_uses u WHERE u.code_id = c.id GROUP BY u.user_id) per), 0),
		       (SELECT count(*) FROM promo_uses u JOIN ledger l ON l.op_key = u.spent_op
		        WHERE u.code_id = c.id AND l.kind = 'promo')
		FROM promo_codes c ORDER BY c.id`)
	if err != nil {
		return nil, fmt.Errorf("reading the usage of promo codes: %w", err)
	}
	us, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PromoUsage])
	if err != nil {
		return nil, fmt.Errorf("reading the usage of promo codes: %w", err)
	}
	return us, nil
}
