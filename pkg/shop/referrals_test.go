package shop_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// rewarding makes e's shop give the rewards r.
func (e *env) rewarding(r shop.Referrals) {
	e.shop = shop.New(e.pool, shop.Config{NowFunc: e.clock.Now, Referrals: r})
}

// startInvited records users as a /start by inviter's invite link does:
// their first /start carried its parameter.
func (e *env) startInvited(t *testing.T, inviter int64, users ...int64) {
	t.Helper()
	for _, id := range users {
		_, err := e.pool.Exec(t.Context(), `INSERT INTO users (id, chat_id, start_param) VALUES ($1, $1, $2)`,
			id, shop.InviteParam(inviter))
		require.NoError(t, err)
	}
}

// invite records users as inviter's invitees, which must succeed.
func (e *env) invite(t *testing.T, inviter int64, users ...int64) {
	t.Helper()
	e.startInvited(t, inviter, users...)
	for _, id := range users {
		recorded, err := e.shop.RecordReferral(t.Context(), id, inviter)
		require.NoError(t, err)
		require.True(t, recorded)
	}
}

// starsTopUp orders a top-up of stars for the user.
func (e *env) starsTopUp(t *testing.T, userID, stars int64) shop.Invoice {
	t.Helper()
	inv, err := e.shop.CreateStarsTopUpOnce(t.Context(), fmt.Sprintf("topup:%d:%d", userID, time.Now().UnixNano()), userID, stars)
	require.NoError(t, err)
	return inv
}

// rewards counts the user's referral rewards.
func (e *env) rewards(t *testing.T, userID int64) int {
	t.Helper()
	return e.count(t, `SELECT count(*) FROM ledger WHERE kind = 'referral' AND user_id = $1`, userID)
}

// requireNoReferralProblems checks that the ledger holds exactly the
// rewards e's shop gives.
func (e *env) requireNoReferralProblems(t *testing.T) {
	t.Helper()
	problems, err := e.shop.ReferralProblems(t.Context())
	require.NoError(t, err)
	require.Empty(t, problems)
}

func TestARewardIsGivenOncePerPaymentHoweverOftenItIsReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rewarding(shop.Referrals{
		Inviter: shop.Reward{Days: 7, Percent: 10},
		Invitee: shop.Reward{Days: 3},
	})
	const inviter = 1
	e.addUser(t, inviter)
	t0 := e.clock.Now()
	const rounds, reporters = 5, 16
	for round := range int64(rounds) {
		invitee := 100 + round
		e.invite(t, inviter, invitee)
		inv := e.order(t, invitee, "m1", shop.ProviderStars)

		// The webhook, the poller, their replicas, then a redelivery.
		applied := make([]bool, reporters)
		errs := make([]error, reporters)
		race(reporters, func(i int) { _, applied[i], errs[i] = e.shop.ApplyPayment(t.Context(), inv.ID, "") })
		requireAppliedOnce(t, applied, errs)
		_, again, err := e.shop.ApplyPayment(t.Context(), inv.ID, "")
		require.NoError(t, err)
		require.False(t, again)

		rewarded := time.Duration(round+1) * 7 * day
		require.Equal(t, t0.Add(rewarded), e.active(t, inviter).ExpiresAt, "round %d: a week per invitee's payment", round)
		require.Equal(t, 25*(round+1), e.balance(t, inviter, shop.CurrencyXTR), "round %d: 10%% of 250 stars each", round)
		require.Equal(t, t0.Add(30*day+3*day), e.active(t, invitee).ExpiresAt, "round %d: the plan and the invitee's bonus", round)
		require.Equal(t, int(round+1), e.rewards(t, inviter))
		require.Equal(t, 1, e.rewards(t, invitee))

		got, err := e.shop.EntryByKey(t.Context(), shop.ReferralKey(inv.ID, shop.ReferralInviter))
		require.NoError(t, err)
		require.Equal(t, shop.Entry{
			ID: got.ID, OpKey: shop.ReferralKey(inv.ID, shop.ReferralInviter), UserID: inviter, Kind: shop.LedgerReferral,
			Currency: shop.CurrencyXTR, Amount: 25, Duration: 7 * day, SubscriptionID: e.active(t, inviter).ID,
			InvoiceID: inv.ID, Ref: fmt.Sprintf("payment:%d", inv.ID), CreatedAt: t0,
		}, got, "round %d", round)
	}
	e.requireNoReferralProblems(t)

	st, err := e.shop.ReferralStats(t.Context(), inviter)
	require.NoError(t, err)
	require.Equal(t, shop.ReferralStats{
		Invited: rounds, Paid: rounds, Days: rounds * 7 * day,
		Balance: []shop.Balance{{Currency: shop.CurrencyXTR, Amount: 25 * rounds}},
	}, st)
}

// Payments of an invitee at once, a plan's and a top-up's, with a purchase
// from their balance: one of the two payments is their first, and only it
// is rewarded; none of them waits for another in a deadlock.
func TestOnlyTheFirstPaymentOfAnInviteeIsRewardedEvenAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rewarding(shop.Referrals{Inviter: shop.Reward{Days: 7}, Invitee: shop.Reward{Days: 2, Percent: 10}})
	const inviter = 1
	e.addUser(t, inviter)
	t0 := e.clock.Now()
	const rounds = 6
	for round := range int64(rounds) {
		invitee := 100 + round
		e.invite(t, inviter, invitee)
		// Balance to buy from, granted rather than paid: no payment yet.
		_, err := e.pool.Exec(t.Context(), `INSERT INTO ledger (op_key, user_id, kind, currency, amount, created_at)
			VALUES ($1, $2, 'grant', 'XTR', 250, now())`, fmt.Sprintf("grant:%d", invitee), invitee)
		require.NoError(t, err)
		plan := e.order(t, invitee, "m1", shop.ProviderStars)
		topUp := e.starsTopUp(t, invitee, 100)

		errs := make([]error, 3)
		race(3, func(i int) {
			switch i {
			case 0:
				_, _, errs[i] = e.shop.ApplyPayment(t.Context(), plan.ID, "")
			case 1:
				_, _, errs[i] = e.shop.ApplyPayment(t.Context(), topUp.ID, "")
			case 2:
				_, _, errs[i] = e.shop.BuyFromBalance(t.Context(), fmt.Sprintf("buy:%d", invitee), invitee, "m1", shop.CurrencyXTR)
			}
		})
		for i, err := range errs {
			require.NoError(t, err, "round %d, operation %d", round, i)
		}
		// Then one more payment, which is not the first either.
		e.pay(t, e.order(t, invitee, "m1", shop.ProviderStars))

		require.Equal(t, int(round+1), e.rewards(t, inviter), "round %d: one reward per invitee", round)
		require.Equal(t, 1, e.rewards(t, invitee), "round %d", round)
		require.Equal(t, t0.Add(time.Duration(round+1)*7*day), e.active(t, inviter).ExpiresAt, "round %d", round)
		require.Equal(t, t0.Add(3*30*day+2*day), e.active(t, invitee).ExpiresAt,
			"round %d: two payments and a purchase of a month, and one bonus", round)
		var first int64
		require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT first_invoice_id FROM referrals WHERE invitee = $1`, invitee).Scan(&first))
		got, err := e.shop.EntryByKey(t.Context(), shop.ReferralKey(first, shop.ReferralInvitee))
		require.NoError(t, err, "round %d: the first payment is the rewarded one", round)
		// 10% of the first payment: 250 stars for the plan, or 100 for the top-up.
		wantCredit := map[int64]int64{plan.ID: 25, topUp.ID: 10}[first]
		require.Equal(t, wantCredit, got.Amount, "round %d", round)
		require.Equal(t, 100+wantCredit, e.balance(t, invitee, shop.CurrencyXTR),
			"round %d: the grant spent, the top-up and the credit", round)
	}
	e.requireNoReferralProblems(t)

	e.invite(t, inviter, 999)
	st, err := e.shop.ReferralStats(t.Context(), inviter)
	require.NoError(t, err)
	require.Equal(t, shop.ReferralStats{Invited: rounds + 1, Paid: rounds, Days: rounds * 7 * day, Balance: []shop.Balance{}}, st,
		"an invitee who has not paid counts as invited only")
}

func TestEveryPaymentGivesItsPercentShare(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rewarding(shop.Referrals{
		Inviter: shop.Reward{Percent: 10, Every: true},
		Invitee: shop.Reward{Percent: 5, Every: true},
	})
	const inviter, invitee = 1, 2
	e.addUser(t, inviter)
	e.invite(t, inviter, invitee)
	const rounds = 3
	for round := range int64(rounds) {
		e.pay(t, e.order(t, invitee, "m1", shop.ProviderStars))     // 250 stars
		e.pay(t, e.order(t, invitee, "m1", shop.ProviderCryptoPay)) // $4.99
		e.pay(t, e.starsTopUp(t, invitee, 100))
		n := round + 1
		require.Equal(t, n*(25+10), e.balance(t, inviter, shop.CurrencyXTR), "round %d", round)
		require.Equal(t, n*49, e.balance(t, inviter, shop.CurrencyUSD), "round %d: 10%% of 499 cents, rounded down", round)
		require.Equal(t, n*(12+5+100), e.balance(t, invitee, shop.CurrencyXTR), "round %d: 5%% of 250 rounded down, of 100, and the top-up", round)
		require.Equal(t, n*24, e.balance(t, invitee, shop.CurrencyUSD), "round %d", round)
		require.Equal(t, int(3*n), e.rewards(t, inviter))
		require.Nil(t, e.active(t, inviter), "a share of money gives no days")
	}
	e.requireNoReferralProblems(t)

	st, err := e.shop.ReferralStats(t.Context(), inviter)
	require.NoError(t, err)
	require.Equal(t, shop.ReferralStats{Invited: 1, Paid: 1, Balance: []shop.Balance{
		{Currency: shop.CurrencyUSD, Amount: rounds * 49}, {Currency: shop.CurrencyXTR, Amount: rounds * 35},
	}}, st)
	st, err = e.shop.ReferralStats(t.Context(), invitee)
	require.NoError(t, err)
	require.Equal(t, shop.ReferralStats{Balance: []shop.Balance{}}, st, "what an invitee got for their own payments is no earning of theirs")
}

// A reward's days are added as a payment's are: to the later of now and
// the period's expiry, whatever the period (a trial, a paid one, one past
// its expiry, none), and nothing that comes after overwrites them.
func TestRewardDaysAddToTheExpiryEveryTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rewarding(shop.Referrals{Inviter: shop.Reward{Days: 7, Every: true}, Invitee: shop.Reward{Days: 5, Every: true}})
	const inviter, invitee = 1, 2
	t0 := e.clock.Now()
	inviterTrial := e.trial(t, inviter)
	e.invite(t, inviter, invitee)
	inviteeTrial, err := e.shop.StartTrial(t.Context(), invitee)
	require.NoError(t, err)
	trialEnd := t0.Add(shop.DefaultTrialDuration)

	// The invitee's trial converts with its payment, and keeps the bonus.
	e.clock.Advance(day)
	sub := e.pay(t, e.order(t, invitee, "m1", shop.ProviderStars))
	require.Equal(t, inviteeTrial.ID, sub.ID, "the payment returns the period with the bonus")
	require.Equal(t, trialEnd.Add(30*day+5*day), sub.ExpiresAt)
	require.Equal(t, shop.KindPaid, sub.Kind)
	got := e.active(t, inviter)
	require.Equal(t, inviterTrial.ID, got.ID)
	require.Equal(t, trialEnd.Add(7*day), got.ExpiresAt, "the inviter's trial runs a week longer")
	require.Equal(t, shop.KindPaid, got.Kind, "days earned are access as paid for")

	// The inviter pays in turn: the month goes after the bonus.
	require.Equal(t, trialEnd.Add(7*day+30*day), e.pay(t, e.order(t, inviter, "m1", shop.ProviderStars)).ExpiresAt)

	// Both periods are over but not revoked: everything counts from now.
	e.clock.Advance(100 * day)
	now := e.clock.Now()
	sub = e.pay(t, e.order(t, invitee, "m1", shop.ProviderCryptoPay))
	require.Equal(t, inviteeTrial.ID, sub.ID)
	require.Equal(t, now.Add(30*day+5*day), sub.ExpiresAt)
	require.Equal(t, now.Add(7*day), e.active(t, inviter).ExpiresAt)

	// The inviter's period is revoked: the next reward starts a new one.
	running := sub.ExpiresAt
	e.clock.Advance(10 * day)
	require.NoError(t, e.shop.Revoke(t.Context(), inviterTrial.ID, nil))
	now = e.clock.Now()
	sub = e.pay(t, e.starsTopUp(t, invitee, 100))
	require.Zero(t, sub.ID, "a top-up buys no period")
	require.Equal(t, running.Add(5*day), e.active(t, invitee).ExpiresAt, "the invitee's running period runs longer")
	fresh := e.active(t, inviter)
	require.NotEqual(t, inviterTrial.ID, fresh.ID)
	require.Equal(t, shop.KindPaid, fresh.Kind)
	require.Equal(t, now, fresh.StartsAt)
	require.Equal(t, now.Add(7*day), fresh.ExpiresAt)
	e.requireNoReferralProblems(t)
}

func TestReferralsRefusedAndRecordedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	const a, b = 1, 2
	e.addUser(t, a)
	e.invite(t, a, b)
	recorded, err := e.shop.RecordReferral(ctx, b, a)
	require.NoError(t, err, "a /start handled again")
	require.False(t, recorded)

	e.startInvited(t, 3, 3)
	_, err = e.shop.RecordReferral(ctx, 3, 3)
	require.ErrorIs(t, err, shop.ErrSelfReferral)

	// X invited Y: Y cannot become X's inviter, even had X's first /start
	// been Y's link (Y started the bot after it).
	const x, y = 10, 11
	e.startInvited(t, y, x)
	e.invite(t, x, y)
	_, err = e.shop.RecordReferral(ctx, x, y)
	require.ErrorIs(t, err, shop.ErrInviterLater)
	// Nor can Z, whom Y invited, close a longer cycle.
	const p, q, z = 20, 21, 22
	e.startInvited(t, z, p)
	e.invite(t, p, q)
	e.invite(t, q, z)
	_, err = e.shop.RecordReferral(ctx, p, z)
	require.ErrorIs(t, err, shop.ErrInviterLater)

	_, err = e.shop.RecordReferral(ctx, b, 3)
	require.ErrorIs(t, err, shop.ErrHasInviter, "B has A for inviter, for good")
	e.addUser(t, 4)
	_, err = e.shop.RecordReferral(ctx, 4, a)
	require.ErrorIs(t, err, shop.ErrNotFirstStart, "a user who started the bot before following the link")
	e.startInvited(t, 999, 5)
	_, err = e.shop.RecordReferral(ctx, 5, 999)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	_, err = e.shop.RecordReferral(ctx, 777, a)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	require.Equal(t, 4, e.count(t, `SELECT count(*) FROM referrals`), "B, Y, Q and Z")

	// The database keeps a referral as it was made.
	for _, sql := range []string{
		`UPDATE referrals SET inviter = 3 WHERE invitee = 2`,
		`DELETE FROM referrals WHERE invitee = 2`,
		`INSERT INTO referrals (invitee, inviter, created_at) VALUES (4, 4, now())`,
	} {
		_, err := e.pool.Exec(ctx, sql)
		requireSQLState(t, err, "23514", sql)
	}
	_, err = e.pool.Exec(ctx, `INSERT INTO referrals (invitee, inviter, created_at) VALUES (2, 3, now())`)
	requireSQLState(t, err, "23505", "one inviter per user")
	e.pay(t, e.order(t, b, "m1", shop.ProviderStars))
	_, err = e.pool.Exec(ctx, `UPDATE referrals SET first_invoice_id = NULL WHERE invitee = 2`)
	requireSQLState(t, err, "23514", "the first payment stays the first")

	// A /start handled by replicas at once records it once.
	const rounds, starts = 5, 8
	for round := range int64(rounds) {
		invitee := 100 + round
		e.startInvited(t, a, invitee)
		recorded := make([]bool, starts)
		errs := make([]error, starts)
		race(starts, func(i int) { recorded[i], errs[i] = e.shop.RecordReferral(ctx, invitee, a) })
		requireAppliedOnce(t, recorded, errs)
	}
	require.Equal(t, 1+rounds, e.count(t, `SELECT count(*) FROM referrals WHERE inviter = $1`, a))
}

// The check the soak runs finds a payment that lacks its reward, a reward
// that is not what the payment calls for, and one of no rewarded payment.
func TestReferralProblemsFindsMissingWrongAndStrayRewards(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const inviter, invitee = 1, 2
	e.addUser(t, inviter)
	e.invite(t, inviter, invitee)
	// Paid while the shop rewarded nothing.
	first := e.order(t, invitee, "m1", shop.ProviderStars)
	e.pay(t, first)
	e.rewarding(shop.Referrals{Inviter: shop.Reward{Percent: 10}})
	problems, err := e.shop.ReferralProblems(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{fmt.Sprintf("invoice %d: no inviter reward (want 0s and 25 to user 1)", first.ID)}, problems)

	second := e.order(t, invitee, "m1", shop.ProviderStars)
	e.pay(t, second)
	for _, inv := range []int64{first.ID, second.ID} {
		_, err = e.pool.Exec(t.Context(), `INSERT INTO ledger (op_key, user_id, kind, currency, amount, invoice_id, created_at)
			VALUES ($1, 1, 'referral', 'XTR', 5, $2, now())`, shop.ReferralKey(inv, shop.ReferralInviter), inv)
		require.NoError(t, err)
	}
	problems, err = e.shop.ReferralProblems(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{
		fmt.Sprintf("referral:%d:inviter (invoice %d): 0s and 5 to user 1, want 0s and 25 to user 1", first.ID, first.ID),
		fmt.Sprintf("referral:%d:inviter (invoice %d): rewards no rewarded payment (0s and 5 to user 1)", second.ID, second.ID),
	}, problems)
}

func TestInviteParamsAndReferralSettings(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ref_42", shop.InviteParam(42))
	id, ok := shop.ParseInviteParam("ref_42")
	require.True(t, ok)
	require.EqualValues(t, 42, id)
	for _, p := range []string{"", "ref_", "ref_0", "ref_-4", "ref_+4", "ref_042", "ref_4x", "REF_4", "promo_4", "ref_99999999999999999999"} {
		_, ok := shop.ParseInviteParam(p)
		require.False(t, ok, p)
	}

	env := shop.NewReferralEnv()
	require.NoError(t, env.Validate())
	require.Equal(t, shop.Referrals{Inviter: shop.Reward{Days: shop.DefaultReferralDays}}, env.Referrals(),
		"by default the inviter gets a week for the first payment, the invitee nothing more")
	env = shop.ReferralEnv{InviterDays: -1, InviterPercent: 101, InviteeDays: 3651, InviteePercent: 100, InviteeEvery: true}
	err := env.Validate()
	require.ErrorContains(t, err, "REFERRAL_INVITER_DAYS=-1")
	require.ErrorContains(t, err, "REFERRAL_INVITER_PERCENT=101")
	require.ErrorContains(t, err, "REFERRAL_INVITEE_DAYS=3651")
	require.NotContains(t, err.Error(), "REFERRAL_INVITEE_PERCENT")

	days, credit := shop.Reward{Days: 2, Percent: 15}.For(499, true)
	require.Equal(t, 2*day, days)
	require.EqualValues(t, 74, credit)
	days, credit = shop.Reward{Days: 2, Percent: 15}.For(499, false)
	require.Zero(t, days)
	require.Zero(t, credit)
	days, credit = shop.Reward{Days: 2, Percent: 15, Every: true}.For(499, false)
	require.Equal(t, 2*day, days)
	require.EqualValues(t, 74, credit)
}
