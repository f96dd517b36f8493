package shop

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of notifications_sent row of auto-renewal, each once per period and
// expiry renewed (a cycle).
const (
	// NoticeRenewed is a renewal's receipt, claimed by Renew in the
	// renewal's own transaction, so that a renewal is never left untold.
	NoticeRenewed = "renewed"
	// NoticeRenewShort is the warning that the balance is short of the
	// renewal (ClaimRenewShort).
	NoticeRenewShort = "renew_short"
)

// renewalCurrencies are the balances a renewal pays from, in the order
// tried: dollars first, else stars.
var renewalCurrencies = []string{CurrencyUSD, CurrencyXTR}

// AutoRenewal is a user's auto-renewal setting.
type AutoRenewal struct {
	// On is whether their period is renewed from the balance before it
	// ends.
	On bool
	// PlanID is the plan they picked; "" for the default.
	PlanID string
	// Plan is what a renewal would buy now: the plan picked while it is
	// offered, else the plan of their last payment, purchase or renewal
	// still offered, else the cheapest on offer (auto_renewal_plan in the
	// database, which Renew decides by too). Zero when no plan is offered.
	Plan Plan
}

// AutoRenewal returns the user's setting: off, with the default plan, for a
// user who never turned it on. A user the bot never saw is ErrUnknownUser.
func (s *Shop) AutoRenewal(ctx context.Context, userID int64) (AutoRenewal, error) {
	var a AutoRenewal
	var planID *string
	err := s.pool.QueryRow(ctx, `
		SELECT COALESCE(ar.enabled, false), COALESCE(ar.plan_id, ''), auto_renewal_plan(u.id, ar.plan_id)
		FROM users u LEFT JOIN auto_renewals ar ON ar.user_id = u.id
		WHERE u.id = $1`, userID).Scan(&a.On, &a.PlanID, &planID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrUnknownUser
	}
	if err == nil && planID != nil {
		a.Plan, err = s.Plan(ctx, *planID)
	}
	if err != nil {
		return AutoRenewal{}, fmt.Errorf("reading the auto-renewal of user %d: %w", userID, err)
	}
	return a, nil
}

// SetAutoRenew turns the user's auto-renewal on or off, and with planID
// (not "") picks the plan it renews with; planID "" keeps the plan picked
// before. A plan not on offer is ErrUnknownPlan, a user the bot never saw
// ErrUnknownUser. Turning it off stops the next charge: Renew charges only
// while it is on, decided under the lock of this setting.
func (s *Shop) SetAutoRenew(ctx context.Context, userID int64, on bool, planID string) (AutoRenewal, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO auto_renewals AS ar (user_id, enabled, plan_id, updated_at)
		SELECT $1::bigint, $2::boolean, NULLIF($3::text, ''), $4::timestamptz
		WHERE $3::text = '' OR EXISTS (SELECT 1 FROM plans WHERE id = $3::text AND active)
		ON CONFLICT (user_id) DO UPDATE
			SET enabled = EXCLUDED.enabled, plan_id = COALESCE(EXCLUDED.plan_id, ar.plan_id),
			    updated_at = EXCLUDED.updated_at`,
		userID, on, planID, s.now())
	switch {
	case isForeignKeyViolation(err):
		err = ErrUnknownUser
	case err == nil && tag.RowsAffected() == 0:
		err = fmt.Errorf("plan %q: %w", planID, ErrUnknownPlan)
	}
	if err != nil {
		return AutoRenewal{}, fmt.Errorf("setting the auto-renewal of user %d (on %t, plan %q): %w", userID, on, planID, err)
	}
	return s.AutoRenewal(ctx, userID)
}

// ErrBalanceCovers: the user's balance covers their auto-renewal's plan
// already, so no top-up is made for it.
var ErrBalanceCovers = errors.New("the balance covers the renewal")

// CreateRenewalTopUpOnce makes a Stars top-up order of what the user's
// balance lacks for a renewal with their auto-renewal's plan (AutoRenewal.Plan):
// its price in stars less the stars they have, and no less than a top-up's
// least (Config.TopUpXTR), once per requestID as CreateStarsTopUpOnce does.
// A balance that covers the plan in either currency is ErrBalanceCovers.
func (s *Shop) CreateRenewalTopUpOnce(ctx context.Context, requestID string, userID int64) (Invoice, error) {
	a, err := s.AutoRenewal(ctx, userID)
	if err != nil {
		return Invoice{}, err
	}
	if a.Plan.ID == "" {
		return Invoice{}, fmt.Errorf("topping up for the renewal of user %d: %w", userID, ErrUnknownPlan)
	}
	var stars int64
	for _, currency := range renewalCurrencies {
		price, err := PlanPrice(a.Plan, currency)
		if err != nil {
			return Invoice{}, err
		}
		have, err := s.Balance(ctx, userID, currency)
		if err != nil {
			return Invoice{}, err
		}
		if have >= price {
			return Invoice{}, fmt.Errorf("topping up for the renewal of user %d with plan %q: %w", userID, a.Plan.ID, ErrBalanceCovers)
		}
		if currency == CurrencyXTR {
			stars = price - have
		}
	}
	return s.CreateStarsTopUpOnce(ctx, requestID, userID, min(max(stars, s.cfg.TopUpXTR.Min), s.cfg.TopUpXTR.Max))
}

// RenewalKey is the op key of the renewal of period subID at the expiry
// expiresAt: one renewal per cycle, since a renewal moves the expiry and so
// the next cycle's key.
func RenewalKey(subID int64, expiresAt time.Time) string {
	return "renewal:" + strconv.FormatInt(subID, 10) + ":" + strconv.FormatInt(expiresAt.Unix(), 10)
}

// renewalKeySQL is RenewalKey of a row's subscription id and expiry.
const renewalKeySQL = `'renewal:' || %[1]s || ':' || extract(epoch FROM %[2]s)::bigint`

// RenewalCycle is one cycle of a period's auto-renewal: the period, its
// expiry, and whom to tell.
type RenewalCycle struct {
	SubscriptionID int64
	UserID         int64
	// ChatID is 0 for a user whose chat is not known.
	ChatID   int64
	Language string
	// Blocked is true when the user blocked the bot: they are renewed all
	// the same, but not told.
	Blocked bool
	// ExpiresAt is the expiry the cycle renews.
	ExpiresAt time.Time
}

// DueRenewals returns up to limit periods due for renewal at now, after
// the cycle after in (expiry, period) order (the zero cycle: from the
// first). A period is due while it is active, its user's auto-renewal is
// on, its expiry is less than the lead away (or already past, in the grace
// before revocation), and this cycle has no renewal row. The lead is
// shortened to the duration of the plan a renewal would buy, so that a
// period renewed ahead of its end is not due again at once: a plan shorter
// than the lead is renewed as its previous duration runs out, once per
// duration.
func (s *Shop) DueRenewals(ctx context.Context, lead time.Duration, after RenewalCycle, limit int) ([]RenewalCycle, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT s.id, s.user_id, COALESCE(u.chat_id, 0), u.language, u.blocked_at IS NOT NULL, s.expires_at
		FROM auto_renewals ar
		JOIN subscriptions s ON s.user_id = ar.user_id AND s.status = 'active'
		JOIN users u ON u.id = ar.user_id
		JOIN plans p ON p.id = auto_renewal_plan(ar.user_id, ar.plan_id)
		WHERE ar.enabled AND u.banned_at IS NULL
		  AND s.expires_at < $1::timestamptz + $2::interval
		  AND s.expires_at < $1::timestamptz + LEAST($2::interval, p.duration)
		  AND (s.expires_at, s.id) > ($3::timestamptz, $4::bigint)
		  AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.op_key = `+fmt.Sprintf(renewalKeySQL, "s.id", "s.expires_at")+`)
		ORDER BY s.expires_at, s.id
		LIMIT $5`, s.now(), lead, after.ExpiresAt, after.SubscriptionID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing the periods due for renewal: %w", err)
	}
	cycles, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (RenewalCycle, error) {
		var c RenewalCycle
		err := row.Scan(&c.SubscriptionID, &c.UserID, &c.ChatID, &c.Language, &c.Blocked, &c.ExpiresAt)
		inUTC(&c.ExpiresAt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the periods due for renewal: %w", err)
	}
	return cycles, nil
}

// Renewal is a renewal from the balance, or one the balance fell short of.
type Renewal struct {
	// Entry is the renewal's ledger row: what it took (Amount, Currency)
	// and added (Duration); zero when it did not happen.
	Entry Entry
	// ExpiresAt is the period's expiry after the renewal.
	ExpiresAt time.Time
	// Balance is what the renewal left in Entry.Currency.
	Balance int64
	// Plan is the plan renewed with; when the balance was short, the one
	// it could not pay.
	Plan Plan
}

// errNotDue rolls back a renewal whose cycle is over.
var errNotDue = errors.New("renewal not due")

// Renew renews period subID for the cycle that ends at expiresAt, once:
// with the plan of the user's auto-renewal (AutoRenewal.Plan), at its price
// then, paid from the USD balance or, when that is short, from the XTR one.
// The period is extended from max(now, expiresAt), so one renewed ahead of
// its end loses nothing and one in its grace restarts now, with its key;
// the ledger row is RenewalKey(subID, expiresAt), and the receipt's claim
// (NoticeRenewed, pending under this session) is made with it.
//
// applied is false, and nothing changes, when the cycle is over: the period
// was renewed for it already (by another worker), paid for since (its
// expiry moved), revoked, or auto-renewal is off. All of this is decided
// under the locks of the period and of the setting, so any number of
// workers renew a cycle once. A balance short in both currencies is
// ErrInsufficientBalance, with r.Plan the plan it could not pay, and
// nothing changes.
func (s *Shop) Renew(ctx context.Context, subID int64, expiresAt time.Time) (r Renewal, applied bool, err error) {
	now := s.now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var userID int64
		var chosen *string
		err := tx.QueryRow(ctx, `
			SELECT s.user_id, ar.plan_id FROM subscriptions s
			JOIN auto_renewals ar ON ar.user_id = s.user_id
			WHERE s.id = $1 AND s.status = 'active' AND s.expires_at = $2 AND ar.enabled
			FOR UPDATE OF s FOR SHARE OF ar`, subID, expiresAt).Scan(&userID, &chosen)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotDue
		}
		if err != nil {
			return err
		}
		r.Plan, err = scanPlan(tx.QueryRow(ctx, `SELECT `+planColumns+` FROM plans WHERE id = auto_renewal_plan($1, $2)`,
			userID, chosen))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUnknownPlan
		}
		if err != nil {
			return err
		}
		for _, currency := range renewalCurrencies {
			r.Entry, err = s.payRenewal(ctx, tx, subID, expiresAt, userID, r.Plan, currency, now)
			if errors.Is(err, ErrInsufficientBalance) {
				continue
			}
			if err != nil {
				return err
			}
			return s.renewed(ctx, tx, &r, subID, expiresAt, now)
		}
		return ErrInsufficientBalance
	})
	switch {
	case errors.Is(err, errNotDue), errors.Is(err, errPostedBefore):
		return Renewal{}, false, nil
	case errors.Is(err, ErrInsufficientBalance):
		return Renewal{Plan: r.Plan}, false, fmt.Errorf("renewing period %d (%s): %w", subID, RenewalKey(subID, expiresAt), err)
	case err != nil:
		return Renewal{}, false, fmt.Errorf("renewing period %d (%s): %w", subID, RenewalKey(subID, expiresAt), err)
	}
	return r, true, nil
}

// payRenewal posts the renewal paid in currency, in a savepoint of tx: a
// balance short of it leaves tx as it was, to try the next currency.
func (s *Shop) payRenewal(ctx context.Context, tx pgx.Tx, subID int64, expiresAt time.Time, userID int64, p Plan, currency string, now time.Time) (Entry, error) {
	price, err := PlanPrice(p, currency)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{
		OpKey: RenewalKey(subID, expiresAt), UserID: userID, Kind: LedgerRenewal, Currency: currency,
		Amount: -price, Duration: p.Duration, Ref: p.ID,
	}
	err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		e, err = postGrant(ctx, sp, e, KindPaid, now)
		return err
	})
	return e, err
}

// renewed completes r after its row was posted, in tx: the period's new
// expiry, the balance left, and the receipt's claim.
func (s *Shop) renewed(ctx context.Context, tx pgx.Tx, r *Renewal, subID int64, expiresAt, now time.Time) error {
	if r.Entry.SubscriptionID != subID {
		return fmt.Errorf("the renewal extended period %d, not %d", r.Entry.SubscriptionID, subID)
	}
	err := tx.QueryRow(ctx, `
		SELECT s.expires_at, b.amount FROM subscriptions s, balances b
		WHERE s.id = $1 AND b.user_id = s.user_id AND b.currency = $2`, subID, r.Entry.Currency).Scan(&r.ExpiresAt, &r.Balance)
	if err != nil {
		return fmt.Errorf("reading the renewed period %d: %w", subID, err)
	}
	inUTC(&r.ExpiresAt)
	_, err = tx.Exec(ctx, `
		INSERT INTO notifications_sent (subscription_id, kind, expires_at, sent_at, pending_pid)
		VALUES ($1, $2, $3, $4, pg_backend_pid())
		ON CONFLICT DO NOTHING`, subID, NoticeRenewed, expiresAt, now)
	if err != nil {
		return fmt.Errorf("claiming the receipt of the renewal of period %d: %w", subID, err)
	}
	return nil
}

// RenewalReceipt is a renewal to tell its user of.
type RenewalReceipt struct {
	Cycle   RenewalCycle
	Renewal Renewal
}

// TakeOverRenewalReceipts claims, for this session, up to limit receipts of
// renewals whose claim was abandoned: still pending, made by a session that
// is gone (the worker died between the renewal and its receipt) or before
// heldSince (it hangs, or its publish failed). Taking one over is an update
// that re-checks that it is abandoned once it has the row, so two workers
// cannot both take it; one taken from a worker that still publishes it is
// published twice under one dedup id, which the OUTBOX keeps once. A
// receipt tells the period's expiry and the balance as they are now.
func (s *Shop) TakeOverRenewalReceipts(ctx context.Context, heldSince time.Time, limit int) ([]RenewalReceipt, error) {
	rows, err := s.pool.Query(ctx, `
		WITH abandoned AS (
			SELECT subscription_id, kind, expires_at FROM notifications_sent
			WHERE kind = $1 AND pending_pid IS NOT NULL
			  AND (sent_at < $3 OR pending_pid <> ALL(ARRAY(SELECT pid FROM pg_stat_activity)))
			ORDER BY sent_at, subscription_id
			LIMIT $4
			FOR UPDATE SKIP LOCKED
		),
		taken AS (
			UPDATE notifications_sent n SET pending_pid = pg_backend_pid(), sent_at = $2
			FROM abandoned a
			WHERE n.subscription_id = a.subscription_id AND n.kind = a.kind AND n.expires_at = a.expires_at
			RETURNING n.subscription_id, n.expires_at
		)
		SELECT t.subscription_id, s.user_id, COALESCE(u.chat_id, 0), u.language, u.blocked_at IS NOT NULL, t.expires_at,
		       s.expires_at, l.op_key
		FROM taken t
		JOIN subscriptions s ON s.id = t.subscription_id
		JOIN users u ON u.id = s.user_id
		JOIN ledger l ON l.op_key = `+fmt.Sprintf(renewalKeySQL, "t.subscription_id", "t.expires_at")+`
		ORDER BY t.expires_at, t.subscription_id`,
		NoticeRenewed, s.now(), heldSince, limit)
	if err != nil {
		return nil, fmt.Errorf("taking over abandoned renewal receipts: %w", err)
	}
	var keys []string
	receipts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (RenewalReceipt, error) {
		var rc RenewalReceipt
		var key string
		c := &rc.Cycle
		err := row.Scan(&c.SubscriptionID, &c.UserID, &c.ChatID, &c.Language, &c.Blocked, &c.ExpiresAt,
			&rc.Renewal.ExpiresAt, &key)
		inUTC(&c.ExpiresAt, &rc.Renewal.ExpiresAt)
		keys = append(keys, key)
		return rc, err
	})
	if err != nil {
		return nil, fmt.Errorf("taking over abandoned renewal receipts: %w", err)
	}
	for i := range receipts {
		if err := s.receiptOf(ctx, &receipts[i].Renewal, keys[i]); err != nil {
			return nil, err
		}
	}
	return receipts, nil
}

// receiptOf fills r with the renewal posted under key: its row, its plan
// (offered or not) and the balance now.
func (s *Shop) receiptOf(ctx context.Context, r *Renewal, key string) error {
	e, err := entryByKey(ctx, s.pool, key)
	if err != nil {
		return fmt.Errorf("reading the renewal %s: %w", key, err)
	}
	r.Entry = e
	r.Plan, err = scanPlan(s.pool.QueryRow(ctx, `SELECT `+planColumns+` FROM plans WHERE id = $1`, e.Ref))
	if err != nil {
		return fmt.Errorf("reading the plan of renewal %s: %w", key, err)
	}
	if r.Balance, err = s.Balance(ctx, e.UserID, e.Currency); err != nil {
		return fmt.Errorf("reading the balance after renewal %s: %w", key, err)
	}
	return nil
}

// ClaimRenewShort claims, for this session, the warning that the balance is
// short of the renewal of cycle c: true once per cycle, whatever the number
// of workers, and again only for a claim abandoned as TakeOverRenewalReceipts
// tells (its session gone, or made before heldSince). The claim stays
// pending until RenewalNoticeSent; ReleaseRenewShort gives it back.
func (s *Shop) ClaimRenewShort(ctx context.Context, c RenewalCycle, heldSince time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO notifications_sent AS n (subscription_id, kind, expires_at, sent_at, pending_pid)
		VALUES ($1, $2, $3, $4, pg_backend_pid())
		ON CONFLICT (subscription_id, kind, expires_at) DO UPDATE
			SET sent_at = EXCLUDED.sent_at, pending_pid = EXCLUDED.pending_pid
			WHERE n.pending_pid IS NOT NULL
			  AND (n.sent_at < $5 OR n.pending_pid <> ALL(ARRAY(SELECT pid FROM pg_stat_activity)))`,
		c.SubscriptionID, NoticeRenewShort, c.ExpiresAt, s.now(), heldSince)
	if err != nil {
		return false, fmt.Errorf("claiming the short-balance warning of period %d: %w", c.SubscriptionID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RenewalNoticeSent records the notice of kind for cycle c as handed to the
// sender: no longer pending, it is never taken over.
func (s *Shop) RenewalNoticeSent(ctx context.Context, c RenewalCycle, kind string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE notifications_sent SET pending_pid = NULL, sent_at = $4
		WHERE subscription_id = $1 AND kind = $2 AND expires_at = $3 AND pending_pid IS NOT NULL`,
		c.SubscriptionID, kind, c.ExpiresAt, s.now())
	if err != nil {
		return fmt.Errorf("recording the %s notice of period %d as sent: %w", kind, c.SubscriptionID, err)
	}
	return nil
}

// ReleaseRenewShort gives back the claim of cycle c's warning, not handed
// to the sender, so that the next pass claims and sends it.
func (s *Shop) ReleaseRenewShort(ctx context.Context, c RenewalCycle) error {
	_, err := s.pool.Exec(ctx, `
		DELETE FROM notifications_sent
		WHERE subscription_id = $1 AND kind = $2 AND expires_at = $3 AND pending_pid IS NOT NULL`,
		c.SubscriptionID, NoticeRenewShort, c.ExpiresAt)
	if err != nil {
		return fmt.Errorf("releasing the short-balance warning of period %d: %w", c.SubscriptionID, err)
	}
	return nil
}

// RepeatedRenewals counts the renewals that came within the cycle of the
// period's previous one: posted before the expiry that renewal set was
// within lead (or that renewal's duration, if shorter) again, the soonest
// the next could be due. Each is a second charge for one cycle; the soak
// requires none. A refund that took access back from the period since
// makes its next renewal due sooner, and is counted too.
func (s *Shop) RepeatedRenewals(ctx context.Context, lead time.Duration) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `
		SELECT count(*) FROM (
			SELECT created_at, lag(created_at) OVER w AS prev_at, lag(duration) OVER w AS prev_duration
			FROM ledger WHERE kind = 'renewal'
			WINDOW w AS (PARTITION BY subscription_id ORDER BY id)
		) r
		WHERE created_at < prev_at + prev_duration - LEAST($1::interval, prev_duration)`, lead).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting repeated renewals: %w", err)
	}
	return n, nil
}
