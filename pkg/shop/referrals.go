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

// Sides of a referral, as the op keys of its rewards end.
const (
	ReferralInviter = "inviter"
	ReferralInvitee = "invitee"
)

// ReferralKey is the op key of side's reward for the payment of invoice
// invoiceID: one per side and payment, however often the payment is
// reported.
func ReferralKey(invoiceID int64, side string) string {
	return "referral:" + strconv.FormatInt(invoiceID, 10) + ":" + side
}

// invitePrefix starts the /start parameter of an invite link.
const invitePrefix = "ref_"

// InviteParam is the /start parameter of userID's invite link,
// https://t.me/<bot>?start=<InviteParam>.
func InviteParam(userID int64) string { return invitePrefix + strconv.FormatInt(userID, 10) }

// ParseInviteParam reads the inviter of an invite link's /start parameter;
// ok is false for a parameter InviteParam did not make.
func ParseInviteParam(param string) (inviter int64, ok bool) {
	rest, found := strings.CutPrefix(param, invitePrefix)
	if !found {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0 && InviteParam(id) == param
}

// Reward is what one side of a referral gets for a payment of the invitee
// that it rewards: days of access, a share of the payment on the balance,
// or both. The zero Reward gives nothing.
type Reward struct {
	// Days is the access added to the user's period (or starting one, as a
	// payment would).
	Days int
	// Percent is the share of what the invitee paid that is credited to
	// the balance, in the payment's currency, rounded down to a minor unit.
	Percent int
	// Every rewards every payment of the invitee; otherwise only their
	// first since they were invited.
	Every bool
}

// For is what r gives for a payment of money (minor units), which is the
// invitee's first when first: nothing when r does not reward it.
func (r Reward) For(money int64, first bool) (access time.Duration, credit int64) {
	if !first && !r.Every {
		return 0, 0
	}
	return time.Duration(r.Days) * 24 * time.Hour, money * int64(r.Percent) / 100
}

// Referrals are what the two sides of a referral get for the payments of
// the invitee. Only money paid to a provider is rewarded: a plan's payment
// and a top-up, not a purchase from the balance, whose money was rewarded
// when it was topped up.
type Referrals struct {
	Inviter, Invitee Reward
}

// DefaultReferralDays is what an inviter gets by default for their
// invitee's first payment; the invitee gets nothing beyond what they paid
// for.
const DefaultReferralDays = 7

// maxReferralDays bounds a reward of days: more than ten years is a typo.
const maxReferralDays = 3650

// Referrals are the rewards the shop gives (Config.Referrals).
func (s *Shop) Referrals() Referrals { return s.cfg.Referrals }

// ReferralEnv is Referrals as the services that apply payments (the
// bot-handler and the payment-watcher, which must agree) read them from
// the environment.
type ReferralEnv struct {
	InviterDays    int  `env:"REFERRAL_INVITER_DAYS"`
	InviterPercent int  `env:"REFERRAL_INVITER_PERCENT"`
	InviterEvery   bool `env:"REFERRAL_INVITER_EVERY_PAYMENT"`
	InviteeDays    int  `env:"REFERRAL_INVITEE_DAYS"`
	InviteePercent int  `env:"REFERRAL_INVITEE_PERCENT"`
	InviteeEvery   bool `env:"REFERRAL_INVITEE_EVERY_PAYMENT"`
}

// NewReferralEnv returns the defaults: DefaultReferralDays to the inviter
// for the invitee's first payment.
func NewReferralEnv() ReferralEnv { return ReferralEnv{InviterDays: DefaultReferralDays} }

// Referrals are the rewards e configures.
func (e ReferralEnv) Referrals() Referrals {
	return Referrals{
		Inviter: Reward{Days: e.InviterDays, Percent: e.InviterPercent, Every: e.InviterEvery},
		Invitee: Reward{Days: e.InviteeDays, Percent: e.InviteePercent, Every: e.InviteeEvery},
	}
}

// Validate reports settings that cannot work.
func (e ReferralEnv) Validate() error {
	var errs []error
	for _, s := range []struct {
		name          string
		days, percent int
	}{
		{"INVITER", e.InviterDays, e.InviterPercent},
		{"INVITEE", e.InviteeDays, e.InviteePercent},
	} {
		if s.days < 0 || s.days > maxReferralDays {
			errs = append(errs, fmt.Errorf("REFERRAL_%s_DAYS=%d: must be 0 to %d", s.name, s.days, maxReferralDays))
		}
		if s.percent < 0 || s.percent > 100 {
			errs = append(errs, fmt.Errorf("REFERRAL_%s_PERCENT=%d: must be 0 to 100", s.name, s.percent))
		}
	}
	return errors.Join(errs...)
}

// Refusals of RecordReferral. Each is returned wrapped.
var (
	// ErrSelfReferral: a user followed their own invite link.
	ErrSelfReferral = errors.New("a user cannot invite themselves")
	// ErrHasInviter: another user invited the user already; an inviter is
	// never changed.
	ErrHasInviter = errors.New("user invited by another user already")
	// ErrNotFirstStart: the user's first /start did not carry the invite
	// link: they had started the bot before they followed it, so it did
	// not bring them.
	ErrNotFirstStart = errors.New("invite link not followed at the user's first start")
	// ErrInviterLater: the inviter started the bot after the invitee,
	// which an inviter whose own chain of inviters leads back to the
	// invitee (a cycle) always did.
	ErrInviterLater = errors.New("inviter started the bot after the invitee")
)

// RecordReferral records that inviter invited invitee, once and for good.
// The invitee's first /start must have carried the inviter's invite link
// (users.start_param, written by the first /start only, is
// InviteParam(inviter)), so a /start handled again records it all the
// same, and the inviter must have started the bot before them, which
// leaves no room for a cycle (see the referrals migration). recorded is
// false, with no error, when this referral was recorded before. A refusal
// is ErrSelfReferral, ErrHasInviter, ErrNotFirstStart, ErrInviterLater or
// ErrUnknownUser, and records nothing.
func (s *Shop) RecordReferral(ctx context.Context, invitee, inviter int64) (recorded bool, err error) {
	if invitee == inviter {
		return false, fmt.Errorf("recording user %d as their own inviter: %w", invitee, ErrSelfReferral)
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO referrals (invitee, inviter, created_at)
		SELECT e.id, r.id, $4 FROM users e, users r
		WHERE e.id = $1 AND r.id = $2 AND e.start_param = $3
		  AND (r.created_at, r.id) < (e.created_at, e.id)
		ON CONFLICT (invitee) DO NOTHING`,
		invitee, inviter, InviteParam(inviter), s.now())
	if err != nil {
		return false, fmt.Errorf("recording user %d as invited by %d: %w", invitee, inviter, err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	// Nothing was inserted: the rows read now say why, and none of them
	// changes but by inserting the referral, which is then this one or
	// another inviter's.
	var (
		had                        *int64
		inviteeKnown, inviterKnown bool
		param                      string
	)
	err = s.pool.QueryRow(ctx, `SELECT (SELECT inviter FROM referrals WHERE invitee = $1),
		EXISTS (SELECT 1 FROM users WHERE id = $1), EXISTS (SELECT 1 FROM users WHERE id = $2),
		COALESCE((SELECT start_param FROM users WHERE id = $1), '')`,
		invitee, inviter).Scan(&had, &inviteeKnown, &inviterKnown, &param)
	if err != nil {
		return false, fmt.Errorf("reading why user %d was not recorded as invited by %d: %w", invitee, inviter, err)
	}
	var refusal error
	switch {
	case had != nil && *had == inviter:
		return false, nil
	case had != nil:
		refusal = fmt.Errorf("%w (user %d)", ErrHasInviter, *had)
	case !inviteeKnown:
		refusal = fmt.Errorf("invitee: %w", ErrUnknownUser)
	case !inviterKnown:
		refusal = fmt.Errorf("inviter: %w", ErrUnknownUser)
	case param != InviteParam(inviter):
		refusal = ErrNotFirstStart
	default:
		refusal = ErrInviterLater
	}
	return false, fmt.Errorf("recording user %d as invited by %d: %w", invitee, inviter, refusal)
}

// paidReferral is the referral of a user paying an invoice, as the payment
// found it; the zero value is a user nobody invited.
type paidReferral struct {
	inviter int64
	// first: the payment is the invitee's first since they were invited.
	first bool
}

// lockReferral takes userID's referral, if they were invited, for the rest
// of tx, and records invoiceID as their first payment if they made none.
// It runs before the payment writes any row, so of two first payments at
// once one waits for the other here and finds it first. Nothing deadlocks
// on the rows a payment of an invitee locks after it: two payments of the
// invitee are in turn on this lock; each locks the invitee's period
// before their balance, as a purchase from the balance does; and locks
// pass from an invitee's rows to their inviter's only, whose chain of
// inviters never comes back to the invitee (RecordReferral).
func lockReferral(ctx context.Context, tx pgx.Tx, userID, invoiceID int64) (paidReferral, error) {
	var r paidReferral
	err := tx.QueryRow(ctx, `UPDATE referrals SET first_invoice_id = COALESCE(first_invoice_id, $2)
		WHERE invitee = $1 RETURNING inviter, first_invoice_id = $2`, userID, invoiceID).Scan(&r.inviter, &r.first)
	if errors.Is(err, pgx.ErrNoRows) {
		return paidReferral{}, nil
	}
	if err != nil {
		return paidReferral{}, fmt.Errorf("reading the referral of user %d: %w", userID, err)
	}
	return r, nil
}

// rewardReferral gives the rewards of pay, the payment or top-up row of an
// invitee, in tx: for each side whose reward gives something for it, one
// ledger row of ReferralKey, whose days are granted as a payment's are
// (from the later of now and the period's expiry; a trial they extend runs
// on as paid) and whose credit goes to the balance in pay's currency.
func (s *Shop) rewardReferral(ctx context.Context, tx pgx.Tx, pay Entry, r paidReferral, now time.Time) error {
	if r.inviter == 0 {
		return nil
	}
	for _, side := range []struct {
		name   string
		userID int64
		reward Reward
	}{
		{ReferralInviter, r.inviter, s.cfg.Referrals.Inviter},
		{ReferralInvitee, pay.UserID, s.cfg.Referrals.Invitee},
	} {
		access, credit := side.reward.For(pay.Money, r.first)
		e := Entry{
			OpKey: ReferralKey(pay.InvoiceID, side.name), UserID: side.userID, Kind: LedgerReferral,
			Duration: access, InvoiceID: pay.InvoiceID, Ref: pay.OpKey,
		}
		if credit > 0 {
			e.Currency, e.Amount = pay.Currency, credit
		}
		var err error
		switch {
		case access > 0:
			_, err = postGrant(ctx, tx, e, KindPaid, now)
		case credit > 0:
			var posted bool
			if _, posted, err = appendEntry(ctx, tx, e, now); err == nil && !posted {
				err = errPostedBefore
			}
		}
		if err != nil {
			return fmt.Errorf("rewarding the %s of user %d for %s: %w", side.name, pay.UserID, pay.OpKey, err)
		}
	}
	return nil
}

// ReferralStats is what a user's invite screen shows.
type ReferralStats struct {
	// Invited counts the users the user invited; Paid those of them who
	// have paid since.
	Invited, Paid int
	// Days is the access their invitees' payments earned the user.
	Days time.Duration
	// Balance is what those payments credited to the user's balance, per
	// currency, USD first; none when they credited nothing.
	Balance []Balance
}

// ReferralStats counts the user's invitees and sums, from the ledger, what
// their payments earned the user.
func (s *Shop) ReferralStats(ctx context.Context, userID int64) (ReferralStats, error) {
	var st ReferralStats
	inviterRows := "%:" + ReferralInviter
	err := s.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM referrals WHERE inviter = $1),
		       (SELECT count(first_invoice_id) FROM referrals WHERE inviter = $1),
		       COALESCE((SELECT sum(duration) FROM ledger WHERE user_id = $1 AND kind = 'referral' AND op_key LIKE $2), '0')`,
		userID, inviterRows).Scan(&st.Invited, &st.Paid, &st.Days)
	if err != nil {
		return ReferralStats{}, fmt.Errorf("counting the referrals of user %d: %w", userID, err)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT currency, sum(amount)::bigint FROM ledger
		WHERE user_id = $1 AND kind = 'referral' AND op_key LIKE $2 AND amount <> 0
		GROUP BY currency ORDER BY currency <> 'USD', currency`, userID, inviterRows)
	if err != nil {
		return ReferralStats{}, fmt.Errorf("summing the referral credits of user %d: %w", userID, err)
	}
	if st.Balance, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Balance]); err != nil {
		return ReferralStats{}, fmt.Errorf("summing the referral credits of user %d: %w", userID, err)
	}
	return st, nil
}

// referralProblemsSQL compares, for side $1 rewarded by $2 days and $3
// percent on every payment ($4) or the first, the reward rows the ledger
// holds (got) with those the invitees' payments call for (want): the
// payments and top-ups of an invitee from their first since the referral
// on, their first only unless $4. A row of one without the same row of
// the other, or with another user, access or credit, is a problem.
const referralProblemsSQL = `
WITH want AS (
	SELECT p.invoice_id, CASE $1::text WHEN 'inviter' THEN r.inviter ELSE r.invitee END AS user_id,
	       make_interval(days => $2::int) AS duration, p.money * $3::bigint / 100 AS amount, p.currency
	FROM ledger p
	JOIN referrals r ON r.invitee = p.user_id
	JOIN ledger f ON f.invoice_id = r.first_invoice_id AND f.kind IN ('payment', 'topup')
	WHERE p.kind IN ('payment', 'topup') AND p.id >= f.id AND (p.id = f.id OR $4::boolean)
), wanted AS (
	SELECT * FROM want WHERE duration <> interval '0' OR amount <> 0
), got AS (
	SELECT invoice_id, user_id, duration, amount, currency, op_key FROM ledger
	WHERE kind = 'referral' AND op_key LIKE '%:' || $1
)
SELECT COALESCE(g.op_key, ''), COALESCE(w.invoice_id, g.invoice_id, 0),
       w.user_id, w.duration, w.amount, g.user_id, g.duration, g.amount
FROM wanted w FULL JOIN got g ON g.invoice_id = w.invoice_id
WHERE w.invoice_id IS NULL OR g.invoice_id IS NULL
   OR g.op_key <> 'referral:' || g.invoice_id || ':' || $1
   OR g.user_id <> w.user_id OR g.duration <> w.duration OR g.amount <> w.amount
   OR (w.amount <> 0 AND g.currency IS DISTINCT FROM w.currency)
ORDER BY 2, 1`

// ReferralProblems checks the referral rewards in the ledger against the
// referrals, the payments, and the rewards the shop gives: a reward row is
// of a payment that its side's reward rewards (a payment or top-up of an
// invitee, their first since they were invited unless the reward is for
// every payment), is that side's user's, and gives what the reward gives
// for it; and every such payment has its row. It returns one line per row
// or payment that breaks this, none when the ledger holds exactly one
// reward per side and rewarded payment. The soak runs it, with the
// services' Referrals, after its drive; it reads the whole ledger.
func (s *Shop) ReferralProblems(ctx context.Context) ([]string, error) {
	var problems []string
	for _, side := range []struct {
		name   string
		reward Reward
	}{
		{ReferralInviter, s.cfg.Referrals.Inviter},
		{ReferralInvitee, s.cfg.Referrals.Invitee},
	} {
		rows, err := s.pool.Query(ctx, referralProblemsSQL,
			side.name, side.reward.Days, side.reward.Percent, side.reward.Every)
		if err != nil {
			return nil, fmt.Errorf("checking the %s rewards of referrals: %w", side.name, err)
		}
		var (
			opKey             string
			invoiceID         int64
			wantUser, gotUser *int64
			wantDur, gotDur   *time.Duration
			wantAmt, gotAmt   *int64
		)
		_, err = pgx.ForEachRow(rows, []any{&opKey, &invoiceID, &wantUser, &wantDur, &wantAmt, &gotUser, &gotDur, &gotAmt}, func() error {
			switch {
			case gotUser == nil:
				problems = append(problems, fmt.Sprintf("invoice %d: no %s reward (want %s and %d to user %d)",
					invoiceID, side.name, *wantDur, *wantAmt, *wantUser))
			case wantUser == nil:
				problems = append(problems, fmt.Sprintf("%s (invoice %d): rewards no rewarded payment (%s and %d to user %d)",
					opKey, invoiceID, *gotDur, *gotAmt, *gotUser))
			default:
				problems = append(problems, fmt.Sprintf("%s (invoice %d): %s and %d to user %d, want %s and %d to user %d",
					opKey, invoiceID, *gotDur, *gotAmt, *gotUser, *wantDur, *wantAmt, *wantUser))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("checking the %s rewards of referrals: %w", side.name, err)
		}
	}
	return problems, nil
}
