package shop_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// Prices of plan m1 (30 days), as the migrations offer it.
const (
	m1Cents = 499
	m1Stars = 250
)

// topUpUSD adds cents to the user's USD balance as a paid Crypto Pay
// top-up does.
func (e *env) topUpUSD(t *testing.T, userID, cents int64) {
	t.Helper()
	inv, err := e.shop.CryptoPayTopUp(t.Context(), userID, cents,
		func(context.Context, shop.Invoice, time.Duration) (string, string, error) {
			return "ext-" + strconv.FormatInt(userID, 10) + "-" + strconv.FormatInt(cents, 10), "https://pay.example/", nil
		})
	require.NoError(t, err)
	_, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)
}

// topUpStars adds stars to the user's XTR balance as a paid Stars top-up
// does.
func (e *env) topUpStars(t *testing.T, userID, stars int64) {
	t.Helper()
	req := fmt.Sprintf("topup-%d-%d", userID, e.count(t, `SELECT count(*) FROM invoices`))
	inv, err := e.shop.CreateStarsTopUpOnce(t.Context(), req, userID, stars)
	require.NoError(t, err)
	_, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-"+req)
	require.NoError(t, err)
	require.True(t, applied)
}

// autoRenew sets the user's auto-renewal, which must succeed.
func (e *env) autoRenew(t *testing.T, userID int64, on bool, planID string) shop.AutoRenewal {
	t.Helper()
	a, err := e.shop.SetAutoRenew(t.Context(), userID, on, planID)
	require.NoError(t, err)
	return a
}

// renewer is a user with a trial period and auto-renewal on, with the
// default plan (m1, the cheapest).
func (e *env) renewer(t *testing.T, userID int64) shop.Subscription {
	t.Helper()
	sub := e.trial(t, userID)
	require.Equal(t, "m1", e.autoRenew(t, userID, true, "").Plan.ID)
	return sub
}

// renewals counts the period's renewal rows.
func (e *env) renewals(t *testing.T, subID int64) int {
	t.Helper()
	return e.count(t, `SELECT count(*) FROM ledger WHERE kind = 'renewal' AND subscription_id = $1`, subID)
}

func TestRenewalExtendsFromTheLaterOfNowAndTheExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// Ahead of its end: the period loses nothing.
	ahead := e.renewer(t, 1)
	e.topUpUSD(t, 1, 1000)
	e.clock.Set(ahead.ExpiresAt.Add(-time.Hour))
	r, applied, err := e.shop.Renew(t.Context(), ahead.ID, ahead.ExpiresAt)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, ahead.ExpiresAt.Add(30*day), r.ExpiresAt)
	require.Equal(t, ahead.ExpiresAt.Add(30*day), e.subscription(t, ahead.ID).ExpiresAt)
	require.Equal(t, shop.KindPaid, e.subscription(t, ahead.ID).Kind, "a renewed trial goes on as a paid period")
	require.Equal(t, shop.Entry{
		ID: r.Entry.ID, OpKey: shop.RenewalKey(ahead.ID, ahead.ExpiresAt), UserID: 1, Kind: shop.LedgerRenewal,
		Currency: shop.CurrencyUSD, Amount: -m1Cents, Duration: 30 * day, SubscriptionID: ahead.ID, Ref: "m1",
		CreatedAt: e.clock.Now(),
	}, r.Entry)
	require.EqualValues(t, 1000-m1Cents, r.Balance)
	require.EqualValues(t, 1000-m1Cents, e.balance(t, 1, shop.CurrencyUSD))
	require.Equal(t, "m1", r.Plan.ID)

	// Expired and not revoked yet: renewed from now, on the same period.
	lapsed := e.renewer(t, 2)
	e.topUpUSD(t, 2, 1000)
	e.clock.Set(lapsed.ExpiresAt.Add(30 * time.Minute))
	r, applied, err = e.shop.Renew(t.Context(), lapsed.ID, lapsed.ExpiresAt)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, e.clock.Now().Add(30*day), r.ExpiresAt)
	sub := e.subscription(t, lapsed.ID)
	require.Equal(t, e.clock.Now().Add(30*day), sub.ExpiresAt)
	require.Equal(t, shop.StatusActive, sub.Status)
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM subscriptions WHERE user_id = 2`), "no new period: the key stays")
}

func TestRenewalPaysInDollarsElseInStarsElseChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.renewer(t, 1)
	e.topUpUSD(t, 1, 400) // $4.00, short of $4.99
	e.topUpStars(t, 1, 100)

	r, applied, err := e.shop.Renew(t.Context(), sub.ID, sub.ExpiresAt)
	require.ErrorIs(t, err, shop.ErrInsufficientBalance)
	require.False(t, applied)
	require.Equal(t, "m1", r.Plan.ID, "the plan it could not pay, for the warning")
	require.Equal(t, sub.ExpiresAt, e.subscription(t, sub.ID).ExpiresAt)
	require.EqualValues(t, 400, e.balance(t, 1, shop.CurrencyUSD))
	require.EqualValues(t, 100, e.balance(t, 1, shop.CurrencyXTR))
	require.Zero(t, e.renewals(t, sub.ID))
	require.Zero(t, e.count(t, `SELECT count(*) FROM notifications_sent`), "no receipt claimed")

	// Stars cover it, dollars still do not.
	e.topUpStars(t, 1, 150)
	r, applied, err = e.shop.Renew(t.Context(), sub.ID, sub.ExpiresAt)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, shop.CurrencyXTR, r.Entry.Currency)
	require.EqualValues(t, -m1Stars, r.Entry.Amount)
	require.Zero(t, r.Balance)
	require.EqualValues(t, 400, e.balance(t, 1, shop.CurrencyUSD), "the dollars are untouched")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM notifications_sent
		WHERE subscription_id = $1 AND kind = $2 AND expires_at = $3 AND pending_pid IS NOT NULL`,
		sub.ID, shop.NoticeRenewed, sub.ExpiresAt), "the receipt is claimed with the renewal")
}

// Three workers renew every cycle at once, cycle after cycle: each cycle is
// charged once, and its receipt claimed once.
func TestWorkersRenewingAtOnceChargeOncePerCycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.renewer(t, 1)
	const cycles, workers = 6, 3
	e.topUpUSD(t, 1, cycles*m1Cents)

	expires := sub.ExpiresAt
	for cycle := range cycles {
		e.clock.Set(expires.Add(-time.Hour))
		due, err := e.shop.DueRenewals(t.Context(), day, shop.RenewalCycle{}, 10)
		require.NoError(t, err)
		require.Len(t, due, 1, "cycle %d", cycle)
		require.Equal(t, expires, due[0].ExpiresAt)

		applied := make([]bool, workers)
		errs := make([]error, workers)
		race(workers, func(i int) { _, applied[i], errs[i] = e.shop.Renew(t.Context(), sub.ID, due[0].ExpiresAt) })
		requireAppliedOnce(t, applied, errs)

		expires = expires.Add(30 * day)
		require.Equal(t, expires, e.subscription(t, sub.ID).ExpiresAt, "cycle %d: one month added", cycle)
		require.Equal(t, cycle+1, e.renewals(t, sub.ID))
		require.EqualValues(t, (cycles-cycle-1)*m1Cents, e.balance(t, 1, shop.CurrencyUSD), "cycle %d", cycle)
		due, err = e.shop.DueRenewals(t.Context(), day, shop.RenewalCycle{}, 10)
		require.NoError(t, err)
		require.Empty(t, due, "cycle %d: renewed, the period is not due until its new end nears", cycle)
	}
	require.Equal(t, cycles, e.count(t, `SELECT count(*) FROM notifications_sent WHERE kind = $1`, shop.NoticeRenewed))
	repeated, err := e.shop.RepeatedRenewals(t.Context(), day)
	require.NoError(t, err)
	require.Zero(t, repeated)
}

func TestABannedUsersPeriodIsNotRenewed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.renewer(t, 1)
	e.topUpUSD(t, 1, 5000)
	e.clock.Set(sub.ExpiresAt.Add(-time.Hour))
	e.setBanned(t, 1, true)
	due, err := e.shop.DueRenewals(t.Context(), day, shop.RenewalCycle{}, 10)
	require.NoError(t, err)
	require.Empty(t, due, "a banned user is not charged")
	e.setBanned(t, 1, false)
	due, err = e.shop.DueRenewals(t.Context(), day, shop.RenewalCycle{}, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
}

func TestRenewalStopsWhenTurnedOffOrPaidForOrRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.renewer(t, 1)
	e.topUpUSD(t, 1, 5000)
	e.clock.Set(sub.ExpiresAt.Add(-time.Hour))

	off := e.autoRenew(t, 1, false, "")
	require.False(t, off.On)
	due, err := e.shop.DueRenewals(t.Context(), day, shop.RenewalCycle{}, 10)
	require.NoError(t, err)
	require.Empty(t, due, "off: not due")
	_, applied, err := e.shop.Renew(t.Context(), sub.ID, sub.ExpiresAt)
	require.NoError(t, err)
	require.False(t, applied, "off: a worker that listed it before is not charged")

	// Paid for by hand since it was listed: the listed cycle is over.
	e.autoRenew(t, 1, true, "")
	paid := e.pay(t, e.order(t, 1, "m1", shop.ProviderStars))
	_, applied, err = e.shop.Renew(t.Context(), sub.ID, sub.ExpiresAt)
	require.NoError(t, err)
	require.False(t, applied, "the cycle ended at the old expiry")
	require.Equal(t, paid.ExpiresAt, e.subscription(t, sub.ID).ExpiresAt)

	// Revoked: nothing to renew.
	_, err = e.pool.Exec(t.Context(), `UPDATE subscriptions SET status = 'revoked', revoked_at = $2 WHERE id = $1`,
		sub.ID, e.clock.Now())
	require.NoError(t, err)
	e.clock.Set(paid.ExpiresAt.Add(-time.Hour))
	_, applied, err = e.shop.Renew(t.Context(), sub.ID, paid.ExpiresAt)
	require.NoError(t, err)
	require.False(t, applied)

	require.Zero(t, e.renewals(t, sub.ID))
	require.EqualValues(t, 5000, e.balance(t, 1, shop.CurrencyUSD))
}

func TestPeriodsAreDueWithinTheLeadOrTheirPlansLength(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := e.clock.Now()
	// Trials taken an hour ago, so that one can have ended since.
	e.clock.Set(now.Add(-time.Hour))
	subs := make([]shop.Subscription, 4)
	for i := range subs {
		subs[i] = e.renewer(t, int64(i+1))
	}
	e.clock.Set(now)
	// 1: past its end, in the grace; 2: within the lead; 3: beyond it;
	// 4: within the lead but beyond its plan's length (a 20-minute plan).
	for i, at := range []time.Time{now.Add(-time.Minute), now.Add(23 * time.Hour), now.Add(25 * time.Hour), now.Add(30 * time.Minute)} {
		_, err := e.pool.Exec(t.Context(), `UPDATE subscriptions SET expires_at = $2 WHERE id = $1`, subs[i].ID, at)
		require.NoError(t, err)
		subs[i].ExpiresAt = at
	}
	_, err := e.pool.Exec(t.Context(), `INSERT INTO plans (id, title_en, title_ru, duration, price_usd, price_stars)
		VALUES ('demo', 'Demo', 'Демо', interval '20 minutes', 5.00, 300)`)
	require.NoError(t, err)
	e.autoRenew(t, 4, true, "demo")

	var got []int64
	var after shop.RenewalCycle
	for {
		page, err := e.shop.DueRenewals(t.Context(), day, after, 1)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		got = append(got, page[0].SubscriptionID)
		after = page[0]
	}
	require.Equal(t, []int64{subs[0].ID, subs[1].ID}, got, "page by page, soonest expiry first")

	e.clock.Set(now.Add(11 * time.Minute))
	due, err := e.shop.DueRenewals(t.Context(), day, shop.RenewalCycle{}, 10)
	require.NoError(t, err)
	require.Len(t, due, 3)
	require.Equal(t, shop.RenewalCycle{SubscriptionID: subs[3].ID, UserID: 4, ChatID: 4, Language: "en",
		ExpiresAt: subs[3].ExpiresAt}, due[1], "within 20 minutes of its end")

	// Renewed, the short plan is not due again until its previous length
	// has run out: once per 20 minutes, not every pass.
	e.topUpUSD(t, 4, 500)
	_, applied, err := e.shop.Renew(t.Context(), subs[3].ID, subs[3].ExpiresAt)
	require.NoError(t, err)
	require.True(t, applied)
	for _, at := range []time.Duration{11 * time.Minute, 29 * time.Minute} {
		e.clock.Set(now.Add(at))
		due, err = e.shop.DueRenewals(t.Context(), day, shop.RenewalCycle{}, 10)
		require.NoError(t, err)
		require.Len(t, due, 2, "%s in", at)
	}
	e.clock.Set(now.Add(31 * time.Minute))
	due, err = e.shop.DueRenewals(t.Context(), day, shop.RenewalCycle{}, 10)
	require.NoError(t, err)
	require.Len(t, due, 3)
}

func TestAutoRenewalRenewsWithThePlanPickedElseTheLastBoughtElseTheCheapest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	a, err := e.shop.AutoRenewal(t.Context(), 1)
	require.NoError(t, err)
	require.False(t, a.On)
	require.Empty(t, a.PlanID)
	require.Equal(t, "m1", a.Plan.ID, "never bought: the cheapest")

	e.pay(t, e.order(t, 1, "m3", shop.ProviderStars))
	a = e.autoRenew(t, 1, true, "")
	require.True(t, a.On)
	require.Equal(t, "m3", a.Plan.ID, "the plan last bought")

	a = e.autoRenew(t, 1, true, "m12")
	require.Equal(t, "m12", a.PlanID)
	require.Equal(t, "m12", a.Plan.ID)
	a = e.autoRenew(t, 1, false, "")
	require.False(t, a.On)
	require.Equal(t, "m12", a.Plan.ID, "turned off and on, the plan stays picked")

	_, err = e.pool.Exec(t.Context(), `UPDATE plans SET active = false WHERE id = 'm12'`)
	require.NoError(t, err)
	a = e.autoRenew(t, 1, true, "")
	require.Equal(t, "m3", a.Plan.ID, "the plan picked is no longer offered")

	_, err = e.shop.SetAutoRenew(t.Context(), 1, true, "m12")
	require.ErrorIs(t, err, shop.ErrUnknownPlan)
	_, err = e.shop.SetAutoRenew(t.Context(), 99, true, "")
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	_, err = e.shop.AutoRenewal(t.Context(), 99)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
}

func TestAShortBalanceIsWarnedOncePerCycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.renewer(t, 1)
	cycle := shop.RenewalCycle{SubscriptionID: sub.ID, UserID: 1, ExpiresAt: sub.ExpiresAt}
	heldSince := e.clock.Now().Add(-time.Minute)

	const workers = 3
	for round := range 4 {
		claimed := make([]bool, workers)
		errs := make([]error, workers)
		race(workers, func(i int) { claimed[i], errs[i] = e.shop.ClaimRenewShort(t.Context(), cycle, heldSince) })
		n := 0
		for i := range claimed {
			require.NoError(t, errs[i])
			if claimed[i] {
				n++
			}
		}
		if round == 1 {
			require.Zero(t, n, "claimed and not released: held by its live session")
			require.NoError(t, e.shop.ReleaseRenewShort(t.Context(), cycle))
			continue
		}
		if round == 3 {
			require.Zero(t, n, "sent: once per cycle")
			continue
		}
		require.Equal(t, 1, n, "round %d", round)
		if round == 2 {
			require.NoError(t, e.shop.RenewalNoticeSent(t.Context(), cycle, shop.NoticeRenewShort))
		}
	}

	next := cycle
	next.ExpiresAt = cycle.ExpiresAt.Add(30 * day)
	claimed, err := e.shop.ClaimRenewShort(t.Context(), next, heldSince)
	require.NoError(t, err)
	require.True(t, claimed, "the next cycle is warned again")
}

func TestAReceiptWhoseClaimWasAbandonedIsTakenOverOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.renewer(t, 1)
	e.topUpStars(t, 1, 300)
	e.clock.Set(sub.ExpiresAt.Add(-time.Hour))
	_, applied, err := e.shop.Renew(t.Context(), sub.ID, sub.ExpiresAt)
	require.NoError(t, err)
	require.True(t, applied)

	// Within its lifetime the renewing session's claim is its own.
	receipts, err := e.shop.TakeOverRenewalReceipts(t.Context(), e.clock.Now().Add(-time.Minute), 10)
	require.NoError(t, err)
	require.Empty(t, receipts)

	const workers = 3
	for round := range 3 {
		// Each round comes after the claim's lifetime: round 0 finds the
		// renewing session's claim abandoned, round 1 the one taken over
		// in round 0 (its worker hung).
		e.clock.Advance(3 * time.Minute)
		heldSince := e.clock.Now().Add(-2 * time.Minute)
		got := make([][]shop.RenewalReceipt, workers)
		errs := make([]error, workers)
		race(workers, func(i int) { got[i], errs[i] = e.shop.TakeOverRenewalReceipts(t.Context(), heldSince, 10) })
		var taken []shop.RenewalReceipt
		for i := range got {
			require.NoError(t, errs[i])
			taken = append(taken, got[i]...)
		}
		if round == 2 {
			require.Empty(t, taken, "sent: nothing left to take over")
			continue
		}
		require.Len(t, taken, 1, "round %d: one worker takes it", round)
		rc := taken[0]
		require.Equal(t, shop.RenewalCycle{SubscriptionID: sub.ID, UserID: 1, ChatID: 1, Language: "en", ExpiresAt: sub.ExpiresAt}, rc.Cycle)
		require.Equal(t, shop.RenewalKey(sub.ID, sub.ExpiresAt), rc.Renewal.Entry.OpKey)
		require.Equal(t, sub.ExpiresAt.Add(30*day), rc.Renewal.ExpiresAt)
		require.EqualValues(t, 300-m1Stars, rc.Renewal.Balance)
		require.Equal(t, "m1", rc.Renewal.Plan.ID)
		if round == 1 {
			require.NoError(t, e.shop.RenewalNoticeSent(t.Context(), rc.Cycle, shop.NoticeRenewed))
		}
	}
}

func TestRepeatedRenewalsCountsASecondChargeWithinACycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.renewer(t, 1)
	e.topUpUSD(t, 1, 3*m1Cents)
	e.clock.Set(sub.ExpiresAt.Add(-time.Hour))
	r, applied, err := e.shop.Renew(t.Context(), sub.ID, sub.ExpiresAt)
	require.NoError(t, err)
	require.True(t, applied)
	repeated, err := e.shop.RepeatedRenewals(t.Context(), day)
	require.NoError(t, err)
	require.Zero(t, repeated)

	// A renewal of the new expiry right away, as a worker that took no
	// notice of the lead would make.
	_, applied, err = e.shop.Renew(t.Context(), sub.ID, r.ExpiresAt)
	require.NoError(t, err)
	require.True(t, applied)
	repeated, err = e.shop.RepeatedRenewals(t.Context(), day)
	require.NoError(t, err)
	require.Equal(t, 1, repeated)
}

func TestARenewalTopUpIsOfTheStarsMissingOncePerRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.renewer(t, 1)
	e.topUpStars(t, 1, 100)

	inv, err := e.shop.CreateRenewalTopUpOnce(t.Context(), "press-1", 1)
	require.NoError(t, err)
	require.Equal(t, shop.PurposeTopUp, inv.Purpose)
	require.Equal(t, shop.ProviderStars, inv.Provider)
	require.EqualValues(t, m1Stars-100, inv.Price, "what the balance lacks")
	again, err := e.shop.CreateRenewalTopUpOnce(t.Context(), "press-1", 1)
	require.NoError(t, err)
	require.Equal(t, inv.ID, again.ID, "a press retried orders once")

	e.topUpStars(t, 1, 120)
	inv, err = e.shop.CreateRenewalTopUpOnce(t.Context(), "press-2", 1)
	require.NoError(t, err)
	require.EqualValues(t, shop.DefaultTopUpXTR.Min, inv.Price, "30 stars missing: a top-up's least")

	_, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "charge-press-2")
	require.NoError(t, err)
	require.True(t, applied)
	_, err = e.shop.CreateRenewalTopUpOnce(t.Context(), "press-3", 1)
	require.ErrorIs(t, err, shop.ErrBalanceCovers)
	_, applied, err = e.shop.Renew(t.Context(), sub.ID, sub.ExpiresAt)
	require.NoError(t, err)
	require.True(t, applied, "topped up, the renewal goes through")

	_, err = e.shop.CreateRenewalTopUpOnce(t.Context(), "press-4", 99)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
}
