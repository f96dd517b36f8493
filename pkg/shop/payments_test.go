package shop_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestOneInvoiceReportedPaidManyTimesAtOnceExtendsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	trial := e.trial(t, 1)
	inv := e.order(t, 1, "m1", shop.ProviderCryptoPay)

	// The webhook, the poller and their replicas all see the payment.
	const reporters = 20
	applied := make([]bool, reporters)
	subs := make([]shop.Subscription, reporters)
	errs := make([]error, reporters)
	race(reporters, func(i int) { subs[i], applied[i], errs[i] = e.shop.ApplyPayment(t.Context(), inv.ID, "") })

	requireAppliedOnce(t, applied, errs)
	for _, sub := range subs {
		require.Equal(t, trial.ID, sub.ID, "every report names the period the payment went to")
	}
	sub := e.active(t, 1)
	require.Equal(t, trial.ExpiresAt.Add(30*day), sub.ExpiresAt, "the trial's remaining time plus one month, once")
	require.Equal(t, shop.KindPaid, sub.Kind, "a paid-for trial goes on as a paid period")

	paid := e.invoice(t, inv.ID)
	require.Equal(t, shop.InvoicePaid, paid.Status)
	require.Equal(t, trial.ID, paid.SubscriptionID)
	require.Equal(t, e.clock.Now(), *paid.PaidAt)
}

func TestPaymentsOfOneUserAtOnceEachExtendOnePeriod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	// A user with no subscription pays three orders at the same moment: one
	// period is started, and each payment adds its own plan.
	invs := []shop.Invoice{
		e.order(t, 1, "m1", shop.ProviderCryptoPay),
		e.order(t, 1, "m3", shop.ProviderCryptoPay),
		e.order(t, 1, "m1", shop.ProviderStars),
	}
	errs := make([]error, len(invs))
	race(len(invs), func(i int) { _, _, errs[i] = e.shop.ApplyPayment(t.Context(), invs[i].ID, "") })
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM subscriptions WHERE user_id = 1`))
	sub := e.active(t, 1)
	require.Equal(t, e.clock.Now().Add(150*day), sub.ExpiresAt)
	require.Equal(t, shop.KindPaid, sub.Kind)
}

func TestAnOlderInvoicePaidAfterANewerOneGrantsItsOwnPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	older := e.order(t, 1, "m1", shop.ProviderCryptoPay)
	e.clock.Advance(5 * time.Minute)
	newer := e.order(t, 1, "m12", shop.ProviderCryptoPay)

	// The plan the older invoice was made for changes after the order.
	_, err := e.pool.Exec(t.Context(), `UPDATE plans SET price_usd = 9.99, price_stars = 500, duration = interval '7 days' WHERE id = 'm1'`)
	require.NoError(t, err)

	start := e.clock.Now()
	e.pay(t, newer)
	sub := e.pay(t, older)
	require.Equal(t, start.Add(365*day+30*day), sub.ExpiresAt, "each invoice grants the plan it was ordered for")

	got := e.invoice(t, older.ID)
	require.Equal(t, "4.99", got.PriceUSD, "a price change reached an existing invoice")
	require.Equal(t, 250, got.PriceStars)
	require.Equal(t, 30*day, got.Duration)
	require.Equal(t, "m1", got.PlanID)

	// A new order takes the new price.
	fresh := e.order(t, 1, "m1", shop.ProviderStars)
	require.Equal(t, "9.99", fresh.PriceUSD)
	require.Equal(t, 500, fresh.PriceStars)
	require.Equal(t, 7*day, fresh.Duration)
}

func TestExtendingAddsToExpiryOrStartsFromNowOrStartsANewPeriod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	t0 := e.clock.Now()
	first := e.pay(t, e.order(t, 1, "m1", shop.ProviderCryptoPay))
	require.Equal(t, t0, first.StartsAt)
	require.Equal(t, t0.Add(30*day), first.ExpiresAt)

	// Active: the new month is added to the current expiry.
	e.clock.Advance(10 * day)
	sub := e.pay(t, e.order(t, 1, "m1", shop.ProviderCryptoPay))
	require.Equal(t, first.ID, sub.ID)
	require.Equal(t, t0.Add(60*day), sub.ExpiresAt)

	// Expired but not yet revoked: the month starts from now, on the same period.
	e.clock.Advance(55 * day)
	sub = e.pay(t, e.order(t, 1, "m3", shop.ProviderCryptoPay))
	require.Equal(t, first.ID, sub.ID)
	require.Equal(t, t0, sub.StartsAt)
	require.Equal(t, e.clock.Now().Add(90*day), sub.ExpiresAt)

	// Revoked: the next payment starts a new period.
	e.clock.Advance(100 * day)
	require.NoError(t, e.shop.Revoke(t.Context(), first.ID, nil))
	next := e.pay(t, e.order(t, 1, "m1", shop.ProviderStars))
	require.NotEqual(t, first.ID, next.ID)
	require.Equal(t, shop.KindPaid, next.Kind)
	require.Equal(t, e.clock.Now(), next.StartsAt)
	require.Equal(t, e.clock.Now().Add(30*day), next.ExpiresAt)
	require.Equal(t, shop.StatusRevoked, e.subscription(t, first.ID).Status)
}

// A plan lasts any length of time (make run's demo plan lasts 20 minutes):
// the order copies it, and paying extends by exactly that, from the expiry
// while the period runs and from now once it is over.
func TestAPlanOfMinutesGrantsExactlyItsLength(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	_, err := e.pool.Exec(t.Context(), `INSERT INTO plans (id, title_en, title_ru, duration, price_usd, price_stars, sort)
		VALUES ('short', 'Short', 'Короткий', interval '20 minutes', 0.50, 1, 0),
		       ('odd', 'Odd', 'Странный', interval '1 day 2 hours 30 seconds', 1, 2, 1)`)
	require.NoError(t, err)
	p, err := e.shop.Plan(t.Context(), "short")
	require.NoError(t, err)
	require.Equal(t, 20*time.Minute, p.Duration)

	t0 := e.clock.Now()
	inv := e.order(t, 1, "short", shop.ProviderStars)
	require.Equal(t, 20*time.Minute, inv.Duration)
	first := e.pay(t, inv)
	require.Equal(t, t0.Add(20*time.Minute), first.ExpiresAt)

	e.clock.Advance(5 * time.Minute)
	sub := e.pay(t, e.order(t, 1, "short", shop.ProviderCryptoPay))
	require.Equal(t, first.ID, sub.ID)
	require.Equal(t, t0.Add(40*time.Minute), sub.ExpiresAt, "added to the running period's expiry")

	e.clock.Advance(time.Hour)
	sub = e.pay(t, e.order(t, 1, "odd", shop.ProviderCryptoPay))
	require.Equal(t, first.ID, sub.ID)
	require.Equal(t, e.clock.Now().Add(26*time.Hour+30*time.Second), sub.ExpiresAt, "from now, a day counting 24 hours")
}

func TestAnExpiredInvoicePaidAnywayIsApplied(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	inv := e.order(t, 1, "m1", shop.ProviderCryptoPay)
	require.Equal(t, e.clock.Now().Add(shop.DefaultInvoiceTTL), inv.ExpiresAt)
	e.clock.Advance(2 * time.Hour)
	require.True(t, e.expire(t, inv.ID))
	require.False(t, e.expire(t, inv.ID), "expired twice")

	// Crypto Pay reports it paid after all: the money was taken.
	sub := e.pay(t, inv)
	require.Equal(t, e.clock.Now().Add(30*day), sub.ExpiresAt)
	require.False(t, e.expire(t, inv.ID), "a paid invoice expired")
	require.Equal(t, shop.InvoicePaid, e.invoice(t, inv.ID).Status)
}

func TestApplyPaymentOfAnUnknownInvoiceFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, applied, err := e.shop.ApplyPayment(t.Context(), 12345, "")
	require.ErrorIs(t, err, shop.ErrUnknownInvoice)
	require.False(t, applied)
}

func TestDuplicatedSuccessfulPaymentExtendsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	inv := e.order(t, 1, "m3", shop.ProviderStars)
	payload := shop.StarsPayload(inv.ID)
	require.Equal(t, fmt.Sprintf("order:%d", inv.ID), payload)
	checked, err := e.shop.ValidateCheckout(t.Context(), 1, payload, "XTR", 650)
	require.NoError(t, err)
	require.Equal(t, inv.ID, checked.ID)

	// Telegram delivers the successful_payment once, then again (a retried
	// update), and several replicas race on more copies.
	sub, applied, err := e.shop.ApplyStarsPayment(t.Context(), 1, payload, "charge-1", 650)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, e.clock.Now().Add(90*day), sub.ExpiresAt)
	_, applied, err = e.shop.ApplyStarsPayment(t.Context(), 1, payload, "charge-1", 650)
	require.NoError(t, err)
	require.False(t, applied)

	inv2 := e.order(t, 1, "m1", shop.ProviderStars)
	const copies = 10
	appliedN := make([]bool, copies)
	errs := make([]error, copies)
	race(copies, func(i int) {
		_, appliedN[i], errs[i] = e.shop.ApplyStarsPayment(t.Context(), 1, shop.StarsPayload(inv2.ID), "charge-2", 250)
	})
	requireAppliedOnce(t, appliedN, errs)
	require.Equal(t, e.clock.Now().Add(120*day), e.active(t, 1).ExpiresAt)
	require.Equal(t, "charge-2", e.invoice(t, inv2.ID).ChargeID)

	// A second charge for a paid invoice bought nothing: reported for a refund.
	_, applied, err = e.shop.ApplyStarsPayment(t.Context(), 1, payload, "charge-3", 650)
	require.ErrorIs(t, err, shop.ErrChargeConflict)
	require.ErrorContains(t, err, "charge-3")
	require.False(t, applied)
	// A charge that paid one invoice does not pay another.
	inv3 := e.order(t, 1, "m1", shop.ProviderStars)
	_, applied, err = e.shop.ApplyStarsPayment(t.Context(), 1, shop.StarsPayload(inv3.ID), "charge-1", 250)
	require.ErrorIs(t, err, shop.ErrChargeConflict)
	require.False(t, applied)
	require.Equal(t, shop.InvoicePending, e.invoice(t, inv3.ID).Status)

	require.Equal(t, e.clock.Now().Add(120*day), e.active(t, 1).ExpiresAt, "a refused charge extended the subscription")
}

func TestCheckoutMismatchesAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1, 2)
	inv := e.order(t, 1, "m1", shop.ProviderStars)
	payload := shop.StarsPayload(inv.ID)
	paid := e.order(t, 1, "m1", shop.ProviderStars)
	_, _, err := e.shop.ApplyStarsPayment(t.Context(), 1, shop.StarsPayload(paid.ID), "c", 250)
	require.NoError(t, err)
	crypto := e.order(t, 1, "m1", shop.ProviderCryptoPay)
	expired := e.order(t, 1, "m1", shop.ProviderStars)
	e.expire(t, expired.ID)

	for _, tc := range []struct {
		name     string
		user     int64
		payload  string
		currency string
		total    int
	}{
		{"another user's order", 2, payload, "XTR", 250},
		{"wrong amount", 1, payload, "XTR", 249},
		{"wrong currency", 1, payload, "USD", 250},
		{"paid order", 1, shop.StarsPayload(paid.ID), "XTR", 250},
		{"expired order", 1, shop.StarsPayload(expired.ID), "XTR", 250},
		{"crypto pay order", 1, shop.StarsPayload(crypto.ID), "XTR", 250},
		{"unknown order", 1, shop.StarsPayload(99999), "XTR", 250},
		{"not an order", 1, "hello", "XTR", 250},
		{"malformed order", 1, "order:-1", "XTR", 250},
	} {
		_, err := e.shop.ValidateCheckout(t.Context(), tc.user, tc.payload, tc.currency, tc.total)
		require.ErrorIs(t, err, shop.ErrCheckoutMismatch, tc.name)
	}

	// Past its TTL, an order not yet marked expired is refused as well.
	e.clock.Advance(shop.DefaultInvoiceTTL)
	_, err = e.shop.ValidateCheckout(t.Context(), 1, payload, "XTR", 250)
	require.ErrorIs(t, err, shop.ErrCheckoutMismatch)
	require.ErrorContains(t, err, "expired")

	// And a successful_payment that does not match its order is not applied.
	_, applied, err := e.shop.ApplyStarsPayment(t.Context(), 2, payload, "c2", 250)
	require.ErrorIs(t, err, shop.ErrCheckoutMismatch)
	require.False(t, applied)
	_, applied, err = e.shop.ApplyStarsPayment(t.Context(), 1, payload, "c2", 1)
	require.ErrorIs(t, err, shop.ErrCheckoutMismatch)
	require.False(t, applied)
	require.Equal(t, shop.InvoicePending, e.invoice(t, inv.ID).Status)
}
