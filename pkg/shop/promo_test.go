package shop_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// promoRequests numbers the requests that enter codes in these tests.
var promoRequests atomic.Int64

// newPromo makes a code, which must succeed.
func (e *env) newPromo(t *testing.T, n shop.NewPromo) shop.Promo {
	t.Helper()
	n.CreatedBy = 777
	p, err := e.shop.CreatePromo(t.Context(), n)
	require.NoError(t, err)
	return p
}

// redeem has user enter code in a request of its own.
func (e *env) redeem(t *testing.T, user int64, code string) (shop.Redemption, error) {
	t.Helper()
	r, applied, err := e.shop.RedeemPromo(t.Context(), fmt.Sprintf("test:%d", promoRequests.Add(1)), user, code)
	if err == nil {
		require.True(t, applied, "a request of its own")
	}
	return r, err
}

// requirePromoUsageHolds checks every code's usage against its limits, as
// the soak does.
func (e *env) requirePromoUsageHolds(t *testing.T) []shop.PromoUsage {
	t.Helper()
	us, err := e.shop.PromoUsage(t.Context())
	require.NoError(t, err)
	for _, u := range us {
		require.NoError(t, u.Violation())
	}
	return us
}

// requireBalancesAreTheLedgers checks every balance against the sum of its
// user's ledger rows.
func (e *env) requireBalancesAreTheLedgers(t *testing.T) {
	t.Helper()
	require.Zero(t, e.count(t, `
		SELECT count(*) FROM (
			SELECT user_id, currency, sum(amount) AS total FROM ledger WHERE amount <> 0 GROUP BY user_id, currency
		) l FULL JOIN balances b USING (user_id, currency)
		WHERE COALESCE(l.total, 0) <> COALESCE(b.amount, 0)`), "a balance differs from the sum of its ledger rows")
}

// Fifty users enter a code of ten uses at once: ten get what it gives, the
// others are told it is used up, and the database holds exactly ten uses,
// each with its ledger row (or its held discount).
func TestAPromoCodeIsNeverUsedMoreThanItsLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rounds := []shop.NewPromo{
		{Kind: shop.PromoDays, Duration: 7 * day},
		{Kind: shop.PromoCredit, CreditUSD: 500},
		{Kind: shop.PromoPercent, Percent: 20},
		{Kind: shop.PromoDays, Duration: day},
	}
	const users, limit = 50, 10
	for round, n := range rounds {
		n.Code, n.MaxUses = fmt.Sprintf("RUSH%d", round), limit
		p := e.newPromo(t, n)
		base := int64(1000 * (round + 1))
		for i := range users {
			e.addUser(t, base+int64(i))
		}
		var applied, usedUp atomic.Int32
		race(users, func(i int) {
			_, err := e.redeem(t, base+int64(i), n.Code)
			switch {
			case err == nil:
				applied.Add(1)
			case assert.ErrorIs(t, err, shop.ErrPromoUsedUp):
				usedUp.Add(1)
			}
		})
		require.EqualValues(t, limit, applied.Load(), "round %d", round)
		require.EqualValues(t, users-limit, usedUp.Load(), "round %d", round)
		got, err := e.shop.Promo(t.Context(), n.Code)
		require.NoError(t, err)
		require.Equal(t, limit, got.Uses, "round %d", round)
		require.Equal(t, limit, e.count(t, `SELECT count(*) FROM promo_uses WHERE code_id = $1`, p.ID), "round %d", round)
		rows := e.count(t, `SELECT count(*) FROM ledger WHERE kind = 'promo' AND ref = $1`, n.Code)
		held := e.count(t, `SELECT count(*) FROM promo_uses WHERE code_id = $1 AND spent_op IS NULL`, p.ID)
		if p.Discount() {
			require.Zero(t, rows, "round %d: a discount moves nothing yet", round)
			require.Equal(t, limit, held, "round %d", round)
		} else {
			require.Equal(t, limit, rows, "round %d: one ledger row per use", round)
			require.Zero(t, held, "round %d", round)
		}
		switch n.Kind {
		case shop.PromoDays:
			require.Equal(t, limit, e.count(t, `SELECT count(*) FROM subscriptions WHERE user_id BETWEEN $1 AND $2
				AND status = 'active' AND expires_at = $3`, base, base+users, e.clock.Now().Add(n.Duration)), "round %d", round)
		case shop.PromoCredit:
			require.Equal(t, limit*500, e.count(t, `SELECT COALESCE(sum(amount), 0)::bigint FROM balances WHERE user_id BETWEEN $1 AND $2`,
				base, base+users), "round %d", round)
		}
	}
	us := e.requirePromoUsageHolds(t)
	require.Len(t, us, len(rounds))
	for i, u := range us {
		want := limit
		if rounds[i].Kind == shop.PromoPercent {
			want = 0
		}
		require.Equal(t, shop.PromoUsage{Code: fmt.Sprintf("RUSH%d", i), Uses: limit, MaxUses: limit, PerUser: 1,
			Recorded: limit, MostByOneUser: 1, Given: want}, u)
	}
	e.requireBalancesAreTheLedgers(t)
}

// One user pressing a code of two uses each ten times at once uses it
// twice; the same request many times at once uses it once, and every one of
// them is answered with that use.
func TestAUserPressingAtOnceUsesACodeOnlyAsOftenAsItAllows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const presses = 10
	for round := range 4 {
		user := int64(round + 1)
		e.addUser(t, user)
		code := fmt.Sprintf("TWICE%d", round)
		p := e.newPromo(t, shop.NewPromo{Code: code, Kind: shop.PromoDays, Duration: 3 * day, PerUser: 2})
		var applied, used atomic.Int32
		race(presses, func(int) {
			_, err := e.redeem(t, user, code)
			switch {
			case err == nil:
				applied.Add(1)
			case assert.ErrorIs(t, err, shop.ErrPromoUsed):
				used.Add(1)
			}
		})
		require.EqualValues(t, 2, applied.Load(), "round %d", round)
		require.EqualValues(t, presses-2, used.Load(), "round %d", round)
		require.Equal(t, e.clock.Now().Add(6*day), e.active(t, user).ExpiresAt, "round %d: two uses of three days", round)
		require.Equal(t, 2, e.count(t, `SELECT count(*) FROM ledger WHERE user_id = $1 AND kind = 'promo'`, user), "round %d", round)
		for n := 1; n <= 2; n++ {
			_, err := e.shop.EntryByKey(t.Context(), shop.PromoKey(p.ID, user, n))
			require.NoError(t, err, "round %d: use %d", round, n)
		}

		// One request, delivered many times at once.
		once := fmt.Sprintf("ONCE%d", round)
		e.newPromo(t, shop.NewPromo{Code: once, Kind: shop.PromoCredit, CreditUSD: 100, PerUser: 5})
		request := fmt.Sprintf("message:%d:once", user)
		rs := make([]shop.Redemption, presses)
		applies := make([]bool, presses)
		errs := make([]error, presses)
		race(presses, func(i int) { rs[i], applies[i], errs[i] = e.shop.RedeemPromo(t.Context(), request, user, once) })
		requireAppliedOnce(t, applies, errs)
		for i := range rs {
			require.Equal(t, rs[0].Entry, rs[i].Entry, "round %d: every delivery is answered with the one use", round)
			require.Equal(t, 1, rs[i].N)
		}
		bal, err := e.shop.Balance(t.Context(), user, shop.CurrencyUSD)
		require.NoError(t, err)
		require.EqualValues(t, 100, bal, "round %d", round)
	}
	e.requirePromoUsageHolds(t)
	e.requireBalancesAreTheLedgers(t)
}

// Days go where a purchase's would: onto the active period from the later
// of now and its expiry (an expired period not yet revoked is extended from
// now, and keeps its key), or onto a new period.
func TestPromoDaysExtendFromTheLaterOfNowAndTheExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPromo(t, shop.NewPromo{Code: "week", Kind: shop.PromoDays, Duration: 7 * day})
	now := e.clock.Now()
	const active, expired, revoked, trial, none = 1, 2, 3, 4, 5
	e.addUser(t, active, expired, revoked, none)
	e.pay(t, e.order(t, active, "m1", shop.ProviderStars))
	lapsed := e.pay(t, e.order(t, expired, "m1", shop.ProviderStars))
	_, err := e.pool.Exec(t.Context(), `UPDATE subscriptions SET starts_at = $2::timestamptz - interval '30 days', expires_at = $2 WHERE id = $1`,
		lapsed.ID, now.Add(-day))
	require.NoError(t, err)
	gone := e.pay(t, e.order(t, revoked, "m1", shop.ProviderStars))
	_, err = e.pool.Exec(t.Context(), `UPDATE subscriptions SET status = 'revoked', starts_at = $2::timestamptz - interval '30 days', expires_at = $2, revoked_at = $2
		WHERE id = $1`,
		gone.ID, now.Add(-day))
	require.NoError(t, err)
	trialSub := e.trial(t, trial)

	for user, want := range map[int64]time.Time{
		active:  now.Add(30*day + 7*day),
		expired: now.Add(7 * day),
		revoked: now.Add(7 * day),
		trial:   trialSub.ExpiresAt.Add(7 * day),
		none:    now.Add(7 * day),
	} {
		r, err := e.redeem(t, user, "WEEK")
		require.NoError(t, err, "user %d", user)
		require.Equal(t, want, r.Sub.ExpiresAt, "user %d", user)
		require.Equal(t, shop.StatusActive, r.Sub.Status, "user %d", user)
		require.Equal(t, shop.Entry{
			ID: r.Entry.ID, OpKey: shop.PromoKey(p.ID, user, 1), UserID: user, Kind: shop.LedgerPromo,
			Duration: 7 * day, SubscriptionID: r.Sub.ID, Ref: "WEEK", CreatedAt: now,
		}, r.Entry, "user %d", user)
		switch user {
		case expired:
			require.Equal(t, lapsed.ID, r.Sub.ID, "an expired period not yet revoked goes on")
		case revoked:
			require.NotEqual(t, gone.ID, r.Sub.ID, "a revoked period stays revoked")
		case trial:
			require.Equal(t, trialSub.ID, r.Sub.ID)
			require.Equal(t, shop.KindPaid, r.Sub.Kind, "days on a trial make it a subscription")
		}
	}
	running, err := e.shop.RunningTrial(t.Context(), trial)
	require.NoError(t, err)
	require.Nil(t, running, "the trial is over once days are added to it")
	e.requirePromoUsageHolds(t)
}

// A credit goes to the USD balance by a ledger row, and the balance is the
// sum of the rows.
func TestPromoCreditGoesToTheBalance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	p := e.newPromo(t, shop.NewPromo{Code: "five", Kind: shop.PromoCredit, CreditUSD: 500, PerUser: 2})
	e.newPromo(t, shop.NewPromo{Code: "cents", Kind: shop.PromoCredit, CreditUSD: 37})
	r, err := e.redeem(t, 1, "Five")
	require.NoError(t, err)
	require.EqualValues(t, 500, r.Balance)
	require.Equal(t, shop.Entry{
		ID: r.Entry.ID, OpKey: shop.PromoKey(p.ID, 1, 1), UserID: 1, Kind: shop.LedgerPromo, Currency: shop.CurrencyUSD,
		Amount: 500, Ref: "FIVE", CreatedAt: e.clock.Now(),
	}, r.Entry, "a credit is no money paid to a provider")
	r, err = e.redeem(t, 1, "five")
	require.NoError(t, err)
	require.Equal(t, 2, r.N)
	require.EqualValues(t, 1000, r.Balance)
	_, err = e.redeem(t, 1, "FIVE")
	require.ErrorIs(t, err, shop.ErrPromoUsed)
	r, err = e.redeem(t, 1, "cents")
	require.NoError(t, err)
	require.EqualValues(t, 1037, r.Balance)

	bal, err := e.shop.Balance(t.Context(), 1, shop.CurrencyUSD)
	require.NoError(t, err)
	require.EqualValues(t, 1037, bal)
	require.Equal(t, 1037, e.count(t, `SELECT sum(amount)::bigint FROM ledger WHERE user_id = 1 AND currency = 'USD'`))
	require.Nil(t, e.active(t, 1), "a credit gives no access")
	e.requireBalancesAreTheLedgers(t)
	e.requirePromoUsageHolds(t)
}

// A discount is held until an order of a plan is paid: the plans are shown,
// and orders made, at the discounted prices, and an order keeps them and
// the use it was made with whatever becomes of the code or the plan.
func TestADiscountBoundAtOrderTimeSurvivesChangesOfTheCodeAndThePlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1, 2)
	p := e.newPromo(t, shop.NewPromo{Code: "SAVE20", Kind: shop.PromoPercent, Percent: 20})
	r, err := e.redeem(t, 1, "save20")
	require.NoError(t, err)
	require.Zero(t, r.Entry, "a discount gives nothing yet")
	require.Zero(t, r.Sub)

	plans, d, err := e.shop.PlansFor(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, &shop.Discount{Code: "SAVE20", Kind: shop.PromoPercent, Percent: 20}, d)
	require.Equal(t, [][2]any{{"3.99", 200}, {"10.39", 520}, {"31.99", 1600}}, prices(plans),
		"20%% off, to the nearest cent and star")
	full, d, err := e.shop.PlansFor(t.Context(), 2)
	require.NoError(t, err)
	require.Nil(t, d)
	require.Equal(t, [][2]any{{"4.99", 250}, {"12.99", 650}, {"39.99", 2000}}, prices(full), "others pay the plans' prices")

	stars := e.order(t, 1, "m1", shop.ProviderStars)
	require.Equal(t, [2]any{"3.99", 200}, [2]any{stars.PriceUSD, stars.PriceStars})
	other := e.order(t, 1, "m3", shop.ProviderStars)
	require.Equal(t, 520, other.PriceStars)
	require.Equal(t, 2, e.count(t, `SELECT count(*) FROM invoices WHERE promo_use_id IS NOT NULL`))

	// The code is switched off, the plan's prices go up: the order stays
	// as it was made, and so does the code's discount.
	_, err = e.shop.SwitchOffPromo(t.Context(), "SAVE20")
	require.NoError(t, err)
	_, err = e.pool.Exec(t.Context(), `UPDATE plans SET price_usd = 9.99, price_stars = 500 WHERE id = 'm1'`)
	require.NoError(t, err)
	_, err = e.pool.Exec(t.Context(), `UPDATE promo_codes SET percent = 50 WHERE id = $1`, p.ID)
	requireSQLState(t, err, "23514", "a code's terms")
	_, err = e.pool.Exec(t.Context(), `UPDATE invoices SET promo_use_id = NULL WHERE id = $1`, stars.ID)
	requireSQLState(t, err, "23514", "an order's discount")
	require.Equal(t, [2]any{"3.99", 200}, [2]any{e.invoice(t, stars.ID).PriceUSD, e.invoice(t, stars.ID).PriceStars})
	plan, d, err := e.shop.PlanFor(t.Context(), 1, "m1")
	require.NoError(t, err)
	require.NotNil(t, d, "a discount held stays when its code is switched off")
	require.Equal(t, [2]any{"7.99", 400}, [2]any{plan.PriceUSD, plan.PriceStars}, "the new prices, less the discount held")

	_, applied, err := e.shop.ApplyStarsPayment(t.Context(), 1, shop.StarsPayload(stars.ID), "charge-1", 200)
	require.NoError(t, err)
	require.True(t, applied)
	paid, err := e.shop.EntryByKey(t.Context(), fmt.Sprintf("payment:%d", stars.ID))
	require.NoError(t, err)
	require.EqualValues(t, 200, paid.Money, "paid at the order's discounted price")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM promo_uses WHERE spent_op = $1`, paid.OpKey))

	// Spent: the other order made with it can no longer be paid with Stars,
	// and what the user orders next costs what the plan does.
	_, err = e.shop.ValidateCheckout(t.Context(), 1, shop.StarsPayload(other.ID), shop.StarsCurrency, 520)
	require.ErrorIs(t, err, shop.ErrCheckoutMismatch)
	require.ErrorContains(t, err, "discount went to another order")
	plan, d, err = e.shop.PlanFor(t.Context(), 1, "m1")
	require.NoError(t, err)
	require.Nil(t, d)
	require.Equal(t, [2]any{"9.99", 500}, [2]any{plan.PriceUSD, plan.PriceStars})
	next := e.order(t, 1, "m1", shop.ProviderStars)
	require.Equal(t, 500, next.PriceStars)
	require.Zero(t, e.count(t, `SELECT count(*) FROM invoices WHERE id = $1 AND promo_use_id IS NOT NULL`, next.ID))

	// Were the other order paid all the same (Crypto Pay asks nobody), the
	// payment stands at its price, and the discount stays spent by the first.
	_, applied, err = e.shop.ApplyPayment(t.Context(), other.ID, "")
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM promo_uses WHERE spent_op = $1`, paid.OpKey))
	e.requirePromoUsageHolds(t)
}

func prices(plans []shop.Plan) [][2]any {
	out := make([][2]any, len(plans))
	for i, p := range plans {
		out[i] = [2]any{p.PriceUSD, p.PriceStars}
	}
	return out
}

// A fixed amount comes off the USD price, and the same share off the Stars
// price; no price falls below one cent or one star.
func TestAFixedDiscountTakesTheSameShareOfTheStarsPrice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1, 2)
	e.newPromo(t, shop.NewPromo{Code: "OFF150", Kind: shop.PromoFixed, OffUSD: 150})
	e.newPromo(t, shop.NewPromo{Code: "OFF100USD", Kind: shop.PromoFixed, OffUSD: 10000})
	_, err := e.redeem(t, 1, "off150")
	require.NoError(t, err)
	_, err = e.redeem(t, 2, "off100usd")
	require.NoError(t, err)

	plans, d, err := e.shop.PlansFor(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, &shop.Discount{Code: "OFF150", Kind: shop.PromoFixed, OffUSD: 150}, d)
	// 250 × 349/499 = 174.8; 650 × 1149/1299 = 574.9; 2000 × 3849/3999 = 1924.98.
	require.Equal(t, [][2]any{{"3.49", 175}, {"11.49", 575}, {"38.49", 1925}}, prices(plans))
	plans, _, err = e.shop.PlansFor(t.Context(), 2)
	require.NoError(t, err)
	require.Equal(t, [][2]any{{"0.01", 1}, {"0.01", 1}, {"0.01", 1}}, prices(plans), "never free")
	inv := e.order(t, 2, "m12", shop.ProviderCryptoPay)
	require.Equal(t, "0.01", inv.PriceUSD)
	require.EqualValues(t, 1, inv.Price)
}

// The Crypto Pay order on offer follows the discount: made at full price
// before a code, it is superseded by one at the discount once the code is
// entered, which is shown until paid; then the next is at full price again.
func TestACryptoPayOrderOnOfferFollowsTheDiscount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	pay := &provider{}
	before := e.cryptoOrder(t, pay, 1, "m1")
	require.Equal(t, "4.99", before.PriceUSD)
	e.newPromo(t, shop.NewPromo{Code: "TENOFF", Kind: shop.PromoPercent, Percent: 10})
	_, err := e.redeem(t, 1, "TENOFF")
	require.NoError(t, err)

	discounted := e.cryptoOrder(t, pay, 1, "m1")
	require.NotEqual(t, before.ID, discounted.ID)
	require.Equal(t, "4.49", discounted.PriceUSD, "4.99 less 10%, to the nearest cent")
	require.Equal(t, discounted.ID, e.cryptoOrder(t, pay, 1, "m1").ID, "the same order while the discount is held")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM invoices WHERE id = $1 AND superseded_at IS NOT NULL`, before.ID))

	e.pay(t, discounted)
	after := e.cryptoOrder(t, pay, 1, "m1")
	require.NotEqual(t, discounted.ID, after.ID)
	require.Equal(t, "4.99", after.PriceUSD)
	require.EqualValues(t, 3, pay.made.Load())
	e.requirePromoUsageHolds(t)
}

// A purchase from the balance pays the discounted price and spends the
// discount: of two purchases at once, exactly one is discounted.
func TestBuyingFromTheBalanceSpendsTheDiscountOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newPromo(t, shop.NewPromo{Code: "TWENTY", Kind: shop.PromoCredit, CreditUSD: 2000})
	e.newPromo(t, shop.NewPromo{Code: "SAVE20", Kind: shop.PromoPercent, Percent: 20})
	for round := range 5 {
		user := int64(round + 1)
		e.addUser(t, user)
		_, err := e.redeem(t, user, "TWENTY")
		require.NoError(t, err)
		_, err = e.redeem(t, user, "SAVE20")
		require.NoError(t, err)

		var ps [2]shop.Purchase
		race(2, func(i int) {
			var err error
			ps[i], _, err = e.shop.BuyFromBalance(t.Context(), fmt.Sprintf("purchase:%d:%d", user, i), user, "m1", shop.CurrencyUSD)
			assert.NoError(t, err)
		})
		require.ElementsMatch(t, []int64{-399, -499}, []int64{ps[0].Entry.Amount, ps[1].Entry.Amount}, "round %d", round)
		bal, err := e.shop.Balance(t.Context(), user, shop.CurrencyUSD)
		require.NoError(t, err)
		require.EqualValues(t, 2000-399-499, bal, "round %d", round)
		cheap := ps[0]
		if cheap.Entry.Amount != -399 {
			cheap = ps[1]
		}
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM promo_uses WHERE user_id = $1 AND spent_op = $2`, user, cheap.Entry.OpKey),
			"round %d: the discounted purchase spent the discount", round)
		require.Equal(t, e.clock.Now().Add(60*day), e.active(t, user).ExpiresAt, "round %d: a discount takes no days off", round)
	}
	e.requireBalancesAreTheLedgers(t)
	e.requirePromoUsageHolds(t)
}

// Why a code cannot be used: unknown, switched off, expired, used up, used
// by the user, for a first purchase, a second discount; and a user who never
// started the bot.
func TestACodeThatCannotBeUsedChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1, 2, 3, 4, 5, 6)
	now := e.clock.Now()
	e.newPromo(t, shop.NewPromo{Code: "SOON", Kind: shop.PromoDays, Duration: day, ExpiresAt: now.Add(time.Hour)})
	e.newPromo(t, shop.NewPromo{Code: "ONE", Kind: shop.PromoDays, Duration: day, MaxUses: 1})
	e.newPromo(t, shop.NewPromo{Code: "GONE", Kind: shop.PromoCredit, CreditUSD: 100})
	e.newPromo(t, shop.NewPromo{Code: "NEWBIE", Kind: shop.PromoPercent, Percent: 50, FirstOnly: true})
	e.newPromo(t, shop.NewPromo{Code: "HALF", Kind: shop.PromoFixed, OffUSD: 100})

	_, err := e.redeem(t, 1, "SOON")
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	_, err = e.redeem(t, 2, "soon")
	require.ErrorIs(t, err, shop.ErrPromoExpired, "an hour later")

	_, err = e.redeem(t, 1, "ONE")
	require.NoError(t, err)
	_, err = e.redeem(t, 2, "ONE")
	require.ErrorIs(t, err, shop.ErrPromoUsedUp)
	_, err = e.redeem(t, 1, "ONE")
	require.ErrorIs(t, err, shop.ErrPromoUsedUp, "a code used up is used up for everyone")

	off, err := e.shop.SwitchOffPromo(t.Context(), "gone")
	require.NoError(t, err)
	require.NotNil(t, off.DisabledAt)
	again, err := e.shop.SwitchOffPromo(t.Context(), "GONE")
	require.NoError(t, err)
	require.Equal(t, off, again, "off once")
	_, err = e.redeem(t, 2, "GONE")
	require.ErrorIs(t, err, shop.ErrPromoOff)
	_, err = e.shop.SwitchOffPromo(t.Context(), "NOPE")
	require.ErrorIs(t, err, shop.ErrUnknownPromo)

	for _, code := range []string{"NOPE", "no such code", "", "a"} {
		_, err = e.redeem(t, 2, code)
		require.ErrorIs(t, err, shop.ErrUnknownPromo, "%q", code)
	}

	// First purchase only: not after a payment, nor after a purchase from
	// the balance; a trial or a credit is no purchase.
	e.pay(t, e.order(t, 3, "m1", shop.ProviderCryptoPay))
	_, err = e.redeem(t, 3, "NEWBIE")
	require.ErrorIs(t, err, shop.ErrPromoFirstPurchase)
	e.newPromo(t, shop.NewPromo{Code: "TENNER", Kind: shop.PromoCredit, CreditUSD: 1000})
	_, err = e.redeem(t, 4, "TENNER")
	require.NoError(t, err)
	_, _, err = e.shop.BuyFromBalance(t.Context(), "purchase:4", 4, "m1", shop.CurrencyUSD)
	require.NoError(t, err)
	_, err = e.redeem(t, 4, "NEWBIE")
	require.ErrorIs(t, err, shop.ErrPromoFirstPurchase)
	e.trial(t, 7)
	_, err = e.redeem(t, 7, "NEWBIE")
	require.NoError(t, err)

	// One discount at a time; days or a credit meanwhile are fine.
	_, err = e.redeem(t, 7, "HALF")
	require.ErrorIs(t, err, shop.ErrPromoHeld)
	_, err = e.redeem(t, 7, "NEWBIE")
	require.ErrorIs(t, err, shop.ErrPromoUsed)
	_, err = e.redeem(t, 7, "TENNER")
	require.NoError(t, err)

	_, err = e.redeem(t, 99, "TENNER")
	require.ErrorIs(t, err, shop.ErrUnknownUser)

	for _, code := range []string{"SOON", "ONE", "GONE", "NEWBIE", "HALF", "TENNER"} {
		p, err := e.shop.Promo(t.Context(), code)
		require.NoError(t, err)
		require.Equal(t, p.Uses, e.count(t, `SELECT count(*) FROM promo_uses WHERE code_id = $1`, p.ID), "%s: a refused use is not counted", code)
	}
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM promo_uses WHERE spent_op IS NULL`), "user 7's NEWBIE")
	e.requirePromoUsageHolds(t)
}

func TestCreatePromoTakesOnlyWhatACodeCanBe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	expires := e.clock.Now().Add(30 * day)
	p := e.newPromo(t, shop.NewPromo{Code: " Spring-26 ", Kind: shop.PromoPercent, Percent: 15, MaxUses: 100, PerUser: 2,
		ExpiresAt: expires, FirstOnly: true})
	require.Equal(t, shop.Promo{ID: p.ID, Code: "SPRING-26", Kind: shop.PromoPercent, Percent: 15, MaxUses: 100, PerUser: 2,
		ExpiresAt: &expires, FirstOnly: true, CreatedBy: 777, CreatedAt: e.clock.Now()}, p)
	got, err := e.shop.Promo(t.Context(), "spring-26")
	require.NoError(t, err)
	require.Equal(t, p, got)
	_, err = e.shop.CreatePromo(t.Context(), shop.NewPromo{Code: "SPRING-26", Kind: shop.PromoDays, Duration: day})
	require.ErrorIs(t, err, shop.ErrPromoExists)

	for _, n := range []shop.NewPromo{
		{Code: "AB", Kind: shop.PromoDays, Duration: day},
		{Code: "TWO WORDS", Kind: shop.PromoDays, Duration: day},
		{Code: "ÜBER", Kind: shop.PromoDays, Duration: day},
		{Code: "PERCENT0", Kind: shop.PromoPercent},
		{Code: "PERCENT100", Kind: shop.PromoPercent, Percent: 100},
		{Code: "FIXED0", Kind: shop.PromoFixed},
		{Code: "DAYS0", Kind: shop.PromoDays},
		{Code: "HOURS", Kind: shop.PromoDays, Duration: 36 * time.Hour},
		{Code: "CREDIT0", Kind: shop.PromoCredit, CreditUSD: -1},
		{Code: "KIND", Kind: "free"},
		{Code: "LIMIT", Kind: shop.PromoDays, Duration: day, MaxUses: -1},
	} {
		_, err := e.shop.CreatePromo(t.Context(), n)
		require.ErrorIs(t, err, shop.ErrInvalidPromo, "%+v", n)
	}
	second := e.newPromo(t, shop.NewPromo{Code: "CASH", Kind: shop.PromoCredit, CreditUSD: 250})
	list, err := e.shop.Promos(t.Context(), 10)
	require.NoError(t, err)
	require.Equal(t, []shop.Promo{second, p}, list, "newest first")
}

// The limits hold in the database itself, whatever SQL reaches it.
func TestTheDatabaseKeepsPromoLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	p := e.newPromo(t, shop.NewPromo{Code: "LIMITS", Kind: shop.PromoPercent, Percent: 10, MaxUses: 3, PerUser: 2})
	_, err := e.redeem(t, 1, "LIMITS")
	require.NoError(t, err)

	for _, set := range []string{"uses = 4", "uses = 0", "per_user = 3", "max_uses = NULL", "expires_at = now()", "code = 'OTHER'", "kind = 'fixed'"} {
		_, err := e.pool.Exec(t.Context(), `UPDATE promo_codes SET `+set+` WHERE id = $1`, p.ID)
		requireSQLState(t, err, "23514", set)
	}
	insert := `INSERT INTO promo_uses (code_id, user_id, n, request_id, created_at) VALUES ($1, 1, $2, $3, now())`
	_, err = e.pool.Exec(t.Context(), insert, p.ID, 3, "sql:1")
	requireSQLState(t, err, "23514", "a use over the per-user limit")
	_, err = e.pool.Exec(t.Context(), insert, p.ID, 1, "sql:2")
	requireSQLState(t, err, "23505", "the user's first use again")
	_, err = e.pool.Exec(t.Context(), insert, p.ID, 2, "sql:3")
	requireSQLState(t, err, "23505", "a second discount held")
	_, err = e.pool.Exec(t.Context(), `DELETE FROM promo_uses`)
	requireSQLState(t, err, "23514", "a use removed")
	_, err = e.pool.Exec(t.Context(), `UPDATE promo_uses SET spent_op = 'payment:1', spent_at = now()`)
	requireSQLState(t, err, "23503", "spent by no ledger row")

	_, err = e.shop.SwitchOffPromo(t.Context(), "LIMITS")
	require.NoError(t, err)
	_, err = e.pool.Exec(t.Context(), `UPDATE promo_codes SET disabled_at = NULL WHERE id = $1`, p.ID)
	requireSQLState(t, err, "23514", "switched on again")
}
