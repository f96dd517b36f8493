package shop_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// provider plays Crypto Pay's createInvoice for CryptoPayOrder: it counts
// the invoices it made, each with an id and link of its own.
type provider struct {
	made  atomic.Int64
	delay time.Duration
	fail  atomic.Bool
	// expiresIn is what the last call was asked for.
	mu        sync.Mutex
	expiresIn time.Duration
}

func (p *provider) create(ctx context.Context, _ shop.Invoice, expiresIn time.Duration) (string, string, error) {
	p.mu.Lock()
	p.expiresIn = expiresIn
	p.mu.Unlock()
	if p.fail.Load() {
		return "", "", errors.New("crypto pay: 502 bad gateway")
	}
	select {
	case <-time.After(p.delay):
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
	id := strconv.FormatInt(900+p.made.Add(1), 10)
	return id, "https://pay.example/" + id, nil
}

// cryptoOrder asks for user's Crypto Pay order of plan, which must succeed.
func (e *env) cryptoOrder(t *testing.T, p *provider, user int64, plan string) shop.Invoice {
	t.Helper()
	inv, err := e.shop.CryptoPayOrder(t.Context(), user, plan, p.create)
	require.NoError(t, err)
	require.Equal(t, shop.InvoicePending, inv.Status)
	require.NotEmpty(t, inv.PayURL)
	return inv
}

func TestCryptoPayOrderShowsTheSameOrderAndLinkWhileItMayBeOffered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1, 2)
	p := &provider{}

	first := e.cryptoOrder(t, p, 1, "m1")
	require.Equal(t, shop.Invoice{
		ID: first.ID, UserID: 1, Purpose: shop.PurposePlan, PlanID: "m1", Provider: shop.ProviderCryptoPay,
		PriceUSD: "4.99", PriceStars: 250, Price: 499, Duration: 30 * day, Status: shop.InvoicePending,
		ExternalID: "901", PayURL: "https://pay.example/901",
		CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour),
	}, first)
	require.Equal(t, time.Hour, p.expiresIn, "Crypto Pay's invoice expires with the order")
	require.Equal(t, first, e.invoice(t, first.ID), "the link is recorded on the order")

	// Pressed again half an hour later (less a second), with the plan
	// repriced meanwhile: the same order, at its own price, the same link.
	e.clock.Advance(30*time.Minute - time.Second)
	_, err := e.pool.Exec(t.Context(), `UPDATE plans SET price_usd = 5.99 WHERE id = 'm1'`)
	require.NoError(t, err)
	require.Equal(t, first, e.cryptoOrder(t, p, 1, "m1"))
	require.EqualValues(t, 1, p.made.Load(), "one invoice at Crypto Pay")

	// Another plan, another user: orders of their own.
	other := e.cryptoOrder(t, p, 1, "m3")
	require.NotEqual(t, first.ID, other.ID)
	require.NotEqual(t, first.ID, e.cryptoOrder(t, p, 2, "m1").ID)
	require.EqualValues(t, 3, p.made.Load())
	require.Equal(t, 3, e.count(t, `SELECT count(*) FROM invoices`))
}

func TestCryptoPayOrderMakesANewOrderOnceTheOldOneCannotBeOffered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	p := &provider{}

	// Half its time gone: a new order, payable for a whole TTL again; the
	// old one is superseded but stays pending, for the payment-watcher.
	first := e.cryptoOrder(t, p, 1, "m1")
	e.clock.Advance(30 * time.Minute)
	second := e.cryptoOrder(t, p, 1, "m1")
	require.NotEqual(t, first.ID, second.ID)
	require.NotEqual(t, first.PayURL, second.PayURL)
	require.Equal(t, e.clock.Now().Add(time.Hour), second.ExpiresAt)
	require.Equal(t, shop.InvoicePending, e.invoice(t, first.ID).Status, "still pending: it may have been paid on its old link")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM invoices WHERE id = $1 AND superseded_at IS NOT NULL`, first.ID))
	// Paid on its old link anyway, it is applied.
	e.pay(t, first)

	// Expired: a new one, never the expired one.
	e.clock.Advance(time.Minute)
	require.True(t, e.expire(t, second.ID))
	third := e.cryptoOrder(t, p, 1, "m1")
	require.NotContains(t, []int64{first.ID, second.ID}, third.ID)

	// Paid: a new one.
	e.pay(t, third)
	fourth := e.cryptoOrder(t, p, 1, "m1")
	require.NotContains(t, []int64{first.ID, second.ID, third.ID}, fourth.ID)
	require.EqualValues(t, 4, p.made.Load())
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM invoices
		WHERE user_id = 1 AND provider = 'cryptopay' AND status = 'pending' AND superseded_at IS NULL`), "one on offer")
}

// TestCryptoPayOrdersRacingMakeOneOrderAndOneProviderInvoice is two bot-handler
// replicas, or an update redelivered while its first delivery still runs,
// and more: requests for the same user's order of a plan, all at once, with
// Crypto Pay taking a moment to answer. Each shows the same link; Crypto Pay
// is asked once.
func TestCryptoPayOrdersRacingMakeOneOrderAndOneProviderInvoice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	p := &provider{delay: 100 * time.Millisecond}
	const n = 20
	invs := make([]shop.Invoice, n)
	errs := make([]error, n)
	race(n, func(i int) { invs[i], errs[i] = e.shop.CryptoPayOrder(t.Context(), 1, "m1", p.create) })
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, invs[0], invs[i], "request %d", i)
	}
	require.NotEmpty(t, invs[0].PayURL)
	require.EqualValues(t, 1, p.made.Load(), "one invoice at Crypto Pay")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM invoices`))

	// The same race once the order's time ran short: one successor.
	e.clock.Advance(31 * time.Minute)
	race(n, func(i int) { invs[i], errs[i] = e.shop.CryptoPayOrder(t.Context(), 1, "m1", p.create) })
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, invs[0], invs[i], "request %d", i)
	}
	require.EqualValues(t, 2, p.made.Load())
	require.Equal(t, 2, e.count(t, `SELECT count(*) FROM invoices`))
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM invoices WHERE superseded_at IS NOT NULL`))
}

func TestCryptoPayOrderWhoseInvoiceCrytoPayFailedToMakeIsMadeByTheNextRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	p := &provider{}
	p.fail.Store(true)
	_, err := e.shop.CryptoPayOrder(t.Context(), 1, "m1", p.create)
	require.ErrorIs(t, err, shop.ErrExternal)
	require.ErrorContains(t, err, "502 bad gateway")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM invoices WHERE external_claimed_at IS NULL`), "the claim given back")

	p.fail.Store(false)
	inv := e.cryptoOrder(t, p, 1, "m1")
	require.Equal(t, 1, e.count(t, `SELECT count(*) FROM invoices`), "the same order")
	require.Equal(t, "901", inv.ExternalID)
}

// claimElsewhere claims the making of the order's Crypto Pay invoice as
// another request does, at the clock's time, on a database session of its
// own, and makes nothing: a replica stopped in its call to Crypto Pay.
// Closing the returned pool is that replica dying.
func (e *env) claimElsewhere(t *testing.T, invoiceID int64) *pgxpool.Pool {
	t.Helper()
	pool := e.db.Session(t)
	_, err := pool.Exec(t.Context(), `UPDATE invoices SET external_claimed_at = $2, external_claim_pid = pg_backend_pid()
		WHERE id = $1`, invoiceID, e.clock.Now())
	require.NoError(t, err)
	return pool
}

// unfinishedOrder is user 1's order of m1 whose Crypto Pay invoice a request
// began to make and did not finish.
func (e *env) unfinishedOrder(t *testing.T) shop.Invoice {
	t.Helper()
	e.addUser(t, 1)
	p := &provider{}
	p.fail.Store(true)
	_, err := e.shop.CryptoPayOrder(t.Context(), 1, "m1", p.create)
	require.ErrorIs(t, err, shop.ErrExternal)
	var id int64
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT id FROM invoices`).Scan(&id))
	return e.invoice(t, id)
}

func TestARequestWaitsForTheInvoiceAnotherIsMakingAndShowsItsLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inv := e.unfinishedOrder(t)
	e.claimElsewhere(t, inv.ID)
	go func() {
		// The other request's call to Crypto Pay returns.
		time.Sleep(300 * time.Millisecond)
		_ = e.shop.AttachExternal(context.Background(), inv.ID, "777", "https://pay.example/777")
	}()
	p := &provider{}
	got := e.cryptoOrder(t, p, 1, "m1")
	require.Equal(t, "https://pay.example/777", got.PayURL)
	require.Zero(t, p.made.Load(), "nothing made at Crypto Pay by the waiting request")
}

func TestAClaimWhoseRequestDiedIsTakenOverAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inv := e.unfinishedOrder(t)
	dying := e.claimElsewhere(t, inv.ID)
	dying.Close()
	p := &provider{}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got, err := e.shop.CryptoPayOrder(ctx, 1, "m1", p.create)
	require.NoError(t, err, "the dead request's claim was not taken over")
	require.Equal(t, inv.ID, got.ID)
	require.Equal(t, "901", got.ExternalID)
	require.EqualValues(t, 1, p.made.Load())
}

func TestAClaimOlderThanItsLifetimeIsTakenOverFromALiveSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inv := e.unfinishedOrder(t)
	e.claimElsewhere(t, inv.ID) // lives on, hangs
	p := &provider{}

	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	began := time.Now()
	_, err := e.shop.CryptoPayOrder(ctx, 1, "m1", p.create)
	cancel()
	require.ErrorIs(t, err, shop.ErrExternal, "a live claim within its lifetime is waited for, short of the deadline")
	require.ErrorContains(t, err, "another request is still making it")
	require.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond, "it waited")
	require.Zero(t, p.made.Load())

	e.clock.Advance(shop.DefaultExternalClaimTTL + time.Second)
	got := e.cryptoOrder(t, p, 1, "m1")
	require.Equal(t, inv.ID, got.ID)
	require.EqualValues(t, 1, p.made.Load())
}

func TestCryptoPayOrderRefusesWhatCannotBeOrdered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	p := &provider{}
	_, err := e.shop.CryptoPayOrder(t.Context(), 2, "m1", p.create)
	require.ErrorIs(t, err, shop.ErrUnknownUser)
	_, err = e.shop.CryptoPayOrder(t.Context(), 1, "nope", p.create)
	require.ErrorIs(t, err, shop.ErrUnknownPlan)

	// Taken off sale, a plan's order on offer is not shown any more.
	e.cryptoOrder(t, p, 1, "m3")
	_, err = e.pool.Exec(t.Context(), `UPDATE plans SET active = false WHERE id = 'm3'`)
	require.NoError(t, err)
	_, err = e.shop.CryptoPayOrder(t.Context(), 1, "m3", p.create)
	require.ErrorIs(t, err, shop.ErrUnknownPlan)
	require.EqualValues(t, 1, p.made.Load())

	// An order of another kind for a plan on offer is refused plainly.
	e.cryptoOrder(t, p, 1, "m1")
	_, err = e.shop.CreateOrder(t.Context(), 1, "m1", shop.ProviderCryptoPay)
	require.ErrorIs(t, err, shop.ErrOrderOnOffer)
	_, err = e.shop.CreateOrderOnce(t.Context(), "press-1", 1, "m1", shop.ProviderCryptoPay)
	require.ErrorIs(t, err, shop.ErrOrderOnOffer)
	_, err = e.shop.CreateOrder(t.Context(), 1, "m1", shop.ProviderStars)
	require.NoError(t, err, "Stars orders are one per press")
}
