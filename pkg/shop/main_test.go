package shop_test

import (
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vpnbot/vpnbot/pkg/clocktest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is a shop over a fresh schema, with its clock.
type env struct {
	db    *pgdbtest.DB
	pool  *pgxpool.Pool
	shop  *shop.Shop
	clock *clocktest.Clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgdbtest.New(t)
	// The shop gets a pool of its own: large enough for the races to be
	// concurrent in the database rather than queued for a connection, and
	// named, so pg_stat_activity tells its connections apart.
	cfg, err := pgxpool.ParseConfig(db.DSN)
	require.NoError(t, err)
	cfg.MaxConns = 24
	cfg.ConnConfig.RuntimeParams["application_name"] = db.Schema
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	// Whole seconds, as the shop stores them, so that expected times compare
	// equal to what it returns.
	c := clocktest.New(time.Now().UTC().Truncate(time.Second))
	return &env{db: db, pool: pool, clock: c, shop: shop.New(pool, shop.Config{NowFunc: c.Now})}
}

// addUser records users as a /start does.
func (e *env) addUser(t *testing.T, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		_, err := e.pool.Exec(t.Context(), `INSERT INTO users (id, chat_id) VALUES ($1, $1)`, id)
		require.NoError(t, err)
	}
}

// count runs a count(*) query.
func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), sql, args...).Scan(&n))
	return n
}

// trial records user userID and starts their trial, which must succeed.
func (e *env) trial(t *testing.T, userID int64) shop.Subscription {
	t.Helper()
	e.addUser(t, userID)
	sub, err := e.shop.StartTrial(t.Context(), userID)
	require.NoError(t, err)
	return sub
}

// subscription reads period id, which must exist.
func (e *env) subscription(t *testing.T, id int64) shop.Subscription {
	t.Helper()
	sub, err := e.shop.Subscription(t.Context(), id)
	require.NoError(t, err)
	return sub
}

// active is the user's active period, nil if none.
func (e *env) active(t *testing.T, userID int64) *shop.Subscription {
	t.Helper()
	sub, err := e.shop.ActiveSubscription(t.Context(), userID)
	require.NoError(t, err)
	return sub
}

// order makes an invoice of the plan.
func (e *env) order(t *testing.T, userID int64, planID, provider string) shop.Invoice {
	t.Helper()
	inv, err := e.shop.CreateOrder(t.Context(), userID, planID, provider)
	require.NoError(t, err)
	return inv
}

// invoice reads invoice id, which must exist.
func (e *env) invoice(t *testing.T, id int64) shop.Invoice {
	t.Helper()
	inv, err := e.shop.Invoice(t.Context(), id)
	require.NoError(t, err)
	return inv
}

// expire marks invoice id expired, reporting whether it was pending.
func (e *env) expire(t *testing.T, id int64) bool {
	t.Helper()
	expired, err := e.shop.ExpireInvoice(t.Context(), id)
	require.NoError(t, err)
	return expired
}

// pay applies the invoice's payment, which must take effect.
func (e *env) pay(t *testing.T, inv shop.Invoice) shop.Subscription {
	t.Helper()
	sub, applied, err := e.shop.ApplyPayment(t.Context(), inv.ID, "")
	require.NoError(t, err)
	require.True(t, applied)
	return sub
}

// balance is the user's balance in currency.
func (e *env) balance(t *testing.T, userID int64, currency string) int64 {
	t.Helper()
	b, err := e.shop.Balance(t.Context(), userID, currency)
	require.NoError(t, err)
	return b
}

// requireAppliedOnce checks that of payment reports racing, none failed
// and exactly one took effect.
func requireAppliedOnce(t *testing.T, applied []bool, errs []error) {
	t.Helper()
	n := 0
	for i := range applied {
		require.NoError(t, errs[i])
		if applied[i] {
			n++
		}
	}
	require.Equal(t, 1, n, "applied %d times", n)
}

// race runs f from n goroutines released at once and returns once all are done.
func race(n int, f func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			f(i)
		}()
	}
	start.Done()
	done.Wait()
}

const day = 24 * time.Hour
