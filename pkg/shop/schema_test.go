package shop_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

// The invariants hold in the database itself, whatever SQL reaches it: these
// tests write around the shop, as a bug or a hand-typed statement would.

func requireSQLState(t *testing.T, err error, code, msg string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "%s: want SQLSTATE %s, got %v", msg, code, err)
	require.Equal(t, code, pgErr.Code, "%s: %v", msg, err)
}

func TestTheDatabaseKeepsAnOrderImmutableAndAPaymentFinal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1, 2)
	inv := e.order(t, 1, "m1", shop.ProviderStars)
	for _, set := range []string{
		"user_id = 2", "plan_id = 'm12'", "provider = 'cryptopay'",
		"price_usd = 0.01", "price_stars = 1", "duration = interval '3650 days'", "created_at = created_at - interval '1 day'",
	} {
		_, err := e.pool.Exec(t.Context(), `UPDATE invoices SET `+set+` WHERE id = $1`, inv.ID)
		requireSQLState(t, err, "23514", set)
	}

	_, _, err := e.shop.ApplyStarsPayment(t.Context(), 1, shop.StarsPayload(inv.ID), "ch", 250)
	require.NoError(t, err)
	for _, set := range []string{
		"status = 'pending', paid_at = NULL", "status = 'expired', paid_at = NULL",
		"charge_id = 'other'", "paid_at = paid_at + interval '1 day'", "subscription_id = NULL",
	} {
		_, err := e.pool.Exec(t.Context(), `UPDATE invoices SET `+set+` WHERE id = $1`, inv.ID)
		requireSQLState(t, err, "23514", set)
	}

	crypto := e.order(t, 1, "m1", shop.ProviderCryptoPay)
	require.NoError(t, e.shop.AttachExternal(t.Context(), crypto.ID, "1", "u"))
	_, err = e.pool.Exec(t.Context(), `UPDATE invoices SET external_id = '2' WHERE id = $1`, crypto.ID)
	requireSQLState(t, err, "23514", "re-pointing the provider invoice")
	_, err = e.pool.Exec(t.Context(), `UPDATE invoices SET status = 'paid' WHERE id = $1`, crypto.ID)
	requireSQLState(t, err, "23514", "paid without a payment time")
}

func TestTheDatabaseAllowsOneActivePeriodOneTrialAndOneAccessPerPeriod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.trial(t, 1)

	_, err := e.pool.Exec(t.Context(), `INSERT INTO subscriptions (user_id, kind, starts_at, expires_at)
		VALUES (1, 'paid', now(), now() + interval '1 day')`)
	requireSQLState(t, err, "23505", "a second active period")
	_, err = e.pool.Exec(t.Context(), `INSERT INTO subscriptions (user_id, kind, status, starts_at, expires_at, revoked_at)
		VALUES (1, 'paid', 'revoked', now() - interval '2 days', now() - interval '1 day', now())`)
	require.NoError(t, err, "past periods are kept beside the active one")
	_, err = e.pool.Exec(t.Context(), `INSERT INTO trials (user_id, started_at) VALUES (1, now())`)
	requireSQLState(t, err, "23505", "a second trial")
	_, err = e.pool.Exec(t.Context(), `UPDATE subscriptions SET status = 'revoked' WHERE id = $1`, sub.ID)
	requireSQLState(t, err, "23514", "revoked without a revocation time")

	insertAccess := `INSERT INTO vpn_accesses (subscription_id, panel, external_id, access_url) VALUES ($1, 'outline', $2, 'ss://x')`
	_, err = e.pool.Exec(t.Context(), insertAccess, sub.ID, "k1")
	require.NoError(t, err)
	_, err = e.pool.Exec(t.Context(), insertAccess, sub.ID, "k2")
	requireSQLState(t, err, "23505", "a second access for one period")
}

func TestTheDatabaseRecordsANotificationOncePerPeriodKindAndExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.trial(t, 1)
	insert := `INSERT INTO notifications_sent (subscription_id, kind, expires_at) VALUES ($1, $2, $3)`
	_, err := e.pool.Exec(t.Context(), insert, sub.ID, "expires_in_1d", sub.ExpiresAt)
	require.NoError(t, err)
	_, err = e.pool.Exec(t.Context(), insert, sub.ID, "expires_in_1d", sub.ExpiresAt)
	requireSQLState(t, err, "23505", "the same reminder twice")
	_, err = e.pool.Exec(t.Context(), insert, sub.ID, "expires_in_1d", sub.ExpiresAt.Add(30*day))
	require.NoError(t, err, "an extended period is reminded again")
}

func TestPlansRejectNonsense(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, set := range []string{
		"duration = interval '0'", "duration = interval '-5 minutes'",
		// A month has no fixed length, so a plan cannot say how long it is in months.
		"duration = interval '1 month'", "duration = interval '1 year'",
		"price_usd = 0", "price_stars = -1",
	} {
		_, err := e.pool.Exec(t.Context(), `UPDATE plans SET `+set+` WHERE id = 'm1'`)
		requireSQLState(t, err, "23514", set)
	}
}
