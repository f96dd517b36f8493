package shop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestPlansAreSeededAndOffered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	plans, err := e.shop.Plans(t.Context())
	require.NoError(t, err)
	require.Equal(t, []shop.Plan{
		{ID: "m1", TitleEN: "1 month", TitleRU: "1 месяц", Duration: 30 * day, PriceUSD: "4.99", PriceStars: 250, Sort: 10},
		{ID: "m3", TitleEN: "3 months", TitleRU: "3 месяца", Duration: 90 * day, PriceUSD: "12.99", PriceStars: 650, Sort: 20},
		{ID: "m12", TitleEN: "12 months", TitleRU: "12 месяцев", Duration: 365 * day, PriceUSD: "39.99", PriceStars: 2000, Sort: 30},
	}, plans)

	p, err := e.shop.Plan(t.Context(), "m3")
	require.NoError(t, err)
	require.Equal(t, plans[1], p)

	// A plan taken off sale is neither listed nor ordered.
	_, err = e.pool.Exec(t.Context(), `UPDATE plans SET active = false WHERE id = 'm3'`)
	require.NoError(t, err)
	plans, err = e.shop.Plans(t.Context())
	require.NoError(t, err)
	require.Len(t, plans, 2)
	_, err = e.shop.Plan(t.Context(), "m3")
	require.ErrorIs(t, err, shop.ErrUnknownPlan)
	e.addUser(t, 1)
	_, err = e.shop.CreateOrder(t.Context(), 1, "m3", shop.ProviderStars)
	require.ErrorIs(t, err, shop.ErrUnknownPlan)
	_, err = e.shop.Plan(t.Context(), "nope")
	require.ErrorIs(t, err, shop.ErrUnknownPlan)
}

func TestCreateOrderBindsUserPlanAndPrice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	inv := e.order(t, 1, "m12", shop.ProviderCryptoPay)
	require.Equal(t, shop.Invoice{
		ID: inv.ID, UserID: 1, Purpose: shop.PurposePlan, PlanID: "m12", Provider: shop.ProviderCryptoPay,
		PriceUSD: "39.99", PriceStars: 2000, Price: 3999, Duration: 365 * day, Status: shop.InvoicePending,
		CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour),
	}, inv)

	_, err := e.shop.CreateOrder(t.Context(), 2, "m1", shop.ProviderStars)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	_, err = e.shop.CreateOrder(t.Context(), 1, "m1", "paypal")
	require.ErrorIs(t, err, shop.ErrUnknownProvider)
	_, err = e.shop.Invoice(t.Context(), 4242)
	require.ErrorIs(t, err, shop.ErrUnknownInvoice)
}

func TestCreateOrderOnceMakesOneOrderPerRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1, 2)
	once := func(requestID string, userID int64, planID, provider string) (shop.Invoice, error) {
		return e.shop.CreateOrderOnce(t.Context(), requestID, userID, planID, provider)
	}
	first, err := once("press-1", 1, "m1", shop.ProviderCryptoPay)
	require.NoError(t, err)
	require.Equal(t, shop.Invoice{
		ID: first.ID, UserID: 1, Purpose: shop.PurposePlan, PlanID: "m1", Provider: shop.ProviderCryptoPay,
		PriceUSD: "4.99", PriceStars: 250, Price: 499, Duration: 30 * day, Status: shop.InvoicePending, RequestID: "press-1",
		CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour),
	}, first)

	// The request again, later, with the plan repriced meanwhile: the same
	// order, at its own price, and with the provider invoice attached since.
	e.clock.Advance(time.Minute)
	_, err = e.pool.Exec(t.Context(), `UPDATE plans SET price_usd = 5.99, price_stars = 300 WHERE id = 'm1'`)
	require.NoError(t, err)
	require.NoError(t, e.shop.AttachExternal(t.Context(), first.ID, "777", "https://pay/777"))
	again, err := once("press-1", 1, "m1", shop.ProviderCryptoPay)
	require.NoError(t, err)
	want := first
	want.ExternalID, want.PayURL = "777", "https://pay/777"
	require.Equal(t, want, again)

	// Paid, it is still the request's order.
	e.pay(t, again)
	paid, err := once("press-1", 1, "m1", shop.ProviderCryptoPay)
	require.NoError(t, err)
	require.Equal(t, first.ID, paid.ID)
	require.Equal(t, shop.InvoicePaid, paid.Status)

	// Another request is another order, at the price of now.
	other, err := once("press-2", 1, "m1", shop.ProviderCryptoPay)
	require.NoError(t, err)
	require.NotEqual(t, first.ID, other.ID)
	require.Equal(t, "5.99", other.PriceUSD)

	// A request id is one user's order of one plan with one provider.
	for _, c := range []struct {
		user     int64
		plan     string
		provider string
	}{{2, "m1", shop.ProviderCryptoPay}, {1, "m3", shop.ProviderCryptoPay}, {1, "m1", shop.ProviderStars}} {
		_, err = once("press-1", c.user, c.plan, c.provider)
		require.ErrorIs(t, err, shop.ErrRequestConflict, "%+v", c)
	}
	_, err = once("", 1, "m1", shop.ProviderStars)
	require.Error(t, err, "an order once per no request")
	_, err = once("press-3", 3, "m1", shop.ProviderStars)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	_, err = once("press-3", 1, "nope", shop.ProviderStars)
	require.ErrorIs(t, err, shop.ErrUnknownPlan)
	_, err = once("press-3", 1, "m1", "paypal")
	require.ErrorIs(t, err, shop.ErrUnknownProvider)
	require.Equal(t, 2, e.count(t, `SELECT count(*) FROM invoices`))
}

func TestCreateOrderOnceRacingItselfMakesOneOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	const n = 20
	invs := make([]shop.Invoice, n)
	errs := make([]error, n)
	race(n, func(i int) {
		invs[i], errs[i] = e.shop.CreateOrderOnce(t.Context(), "press-1", 1, "m1", shop.ProviderStars)
	})
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, invs[0], invs[i], "call %d", i)
	}
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM invoices`))
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM invoices WHERE request_id = 'press-1' AND id = $1`, invs[0].ID))
}

func TestAttachExternalAndFindByIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	inv := e.order(t, 1, "m1", shop.ProviderCryptoPay)
	other := e.order(t, 1, "m3", shop.ProviderCryptoPay)

	require.NoError(t, e.shop.AttachExternal(t.Context(), inv.ID, "777", "https://pay/777"))
	require.NoError(t, e.shop.AttachExternal(t.Context(), inv.ID, "777", "https://pay/777"), "attaching again is a no-op")
	err := e.shop.AttachExternal(t.Context(), inv.ID, "778", "https://pay/778")
	require.ErrorIs(t, err, shop.ErrExternalConflict)
	err = e.shop.AttachExternal(t.Context(), other.ID, "777", "https://pay/777")
	require.ErrorIs(t, err, shop.ErrExternalConflict, "one provider invoice paid two orders")
	err = e.shop.AttachExternal(t.Context(), 9999, "1", "u")
	require.ErrorIs(t, err, shop.ErrUnknownInvoice)

	got, err := e.shop.InvoiceByExternal(t.Context(), shop.ProviderCryptoPay, "777")
	require.NoError(t, err)
	require.Equal(t, inv.ID, got.ID)
	require.Equal(t, "https://pay/777", got.PayURL)
	_, err = e.shop.InvoiceByExternal(t.Context(), shop.ProviderStars, "777")
	require.ErrorIs(t, err, shop.ErrUnknownInvoice)
}

func TestPendingInvoicesOldestFirstPerProvider(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1, 2)
	a := e.order(t, 1, "m1", shop.ProviderCryptoPay)
	e.clock.Advance(time.Minute)
	e.order(t, 1, "m1", shop.ProviderStars)
	b := e.order(t, 1, "m3", shop.ProviderCryptoPay)
	e.clock.Advance(time.Minute)
	paid := e.order(t, 2, "m1", shop.ProviderCryptoPay)
	e.pay(t, paid)
	expired := e.order(t, 1, "m12", shop.ProviderCryptoPay)
	e.expire(t, expired.ID)
	c := e.order(t, 2, "m12", shop.ProviderCryptoPay)

	ids := func(invs []shop.Invoice) []int64 {
		var out []int64
		for _, inv := range invs {
			out = append(out, inv.ID)
		}
		return out
	}
	got, err := e.shop.PendingInvoices(t.Context(), shop.ProviderCryptoPay, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{a.ID, b.ID, c.ID}, ids(got))
	got, err = e.shop.PendingInvoices(t.Context(), shop.ProviderCryptoPay, 2)
	require.NoError(t, err)
	require.Equal(t, []int64{a.ID, b.ID}, ids(got))
}
