package schema_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/obs/obstest"
	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/schema"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// withRoles applies the service roles to the test's schema under a prefix
// of the test's own, so parallel tests' roles do not collide, and drops
// them when the test ends (before the schema goes).
func withRoles(t *testing.T, db *pgdbtest.DB) (prefix string, logs *obstest.LogBuffer) {
	t.Helper()
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	prefix = "t" + hex.EncodeToString(b) + "_"
	logs = &obstest.LogBuffer{}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, r := range schema.Roles {
			role := pgx.Identifier{schema.RoleName(prefix, r.Service)}.Sanitize()
			_, err := db.Pool.Exec(ctx, "DROP OWNED BY "+role)
			require.NoError(t, err)
			_, err = db.Pool.Exec(ctx, "DROP ROLE "+role)
			require.NoError(t, err)
		}
	})
	require.NoError(t, schema.ApplyRoles(t.Context(), db.Pool, prefix, obstest.NewLogger(logs)))
	return prefix, logs
}

func roleOf(t *testing.T, service string) schema.Role {
	t.Helper()
	for _, r := range schema.Roles {
		if r.Service == service {
			return r
		}
	}
	t.Fatalf("no role for %s", service)
	return schema.Role{}
}

// requireDenied asserts that err is the database refusing a privilege.
func requireDenied(t *testing.T, err error, why ...any) {
	t.Helper()
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	require.True(t, ok, "want insufficient_privilege, got %v %v", err, why)
	require.Equal(t, "42501", pgErr.Code, "%s %v", pgErr.Message, why)
}

func TestApplyRolesGrantsExactlyTheListAndRestoresIt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := pgdbtest.New(t)
	prefix, logs := withRoles(t, db)

	applied := logs.Events(t, schema.EventRoleApplied)
	require.Len(t, applied, len(schema.Roles))
	for _, ev := range applied {
		require.Equal(t, true, ev["created"])
	}
	tables := tablesIn(t, db.Pool, db.Schema)
	for _, r := range schema.Roles {
		name := schema.RoleName(prefix, r.Service)
		var limit int
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", name).Scan(&limit))
		require.Equal(t, r.ConnectionLimit, limit, name)
		for _, table := range tables {
			for _, priv := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"} {
				var has bool
				require.NoError(t, db.Pool.QueryRow(ctx, "SELECT has_table_privilege($1, quote_ident($2) || '.' || quote_ident($3), $4)",
					name, db.Schema, table, priv).Scan(&has))
				require.Equal(t, containsWord(r.Tables[table], priv), has, "%s %s on %s", name, priv, table)
			}
		}
	}
	seqUsage := func(service, seq string) bool {
		var has bool
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT has_sequence_privilege($1, quote_ident($2) || '.' || quote_ident($3), 'USAGE')",
			schema.RoleName(prefix, service), db.Schema, seq).Scan(&has))
		return has
	}
	require.True(t, seqUsage("bot-handler", "invoices_id_seq"), "bot-handler creates invoices")
	require.False(t, seqUsage("payment-watcher", "invoices_id_seq"), "payment-watcher only updates them")
	require.True(t, seqUsage("payment-watcher", "ledger_id_seq"))

	// An operator's hand-made change is undone by the next migrate.
	keyserver := pgx.Identifier{schema.RoleName(prefix, "keyserver")}.Sanitize()
	_, err := db.Pool.Exec(ctx, "ALTER ROLE "+keyserver+" CONNECTION LIMIT 50")
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "GRANT DELETE ON TABLE "+pgx.Identifier{db.Schema, "invoices"}.Sanitize()+" TO "+keyserver)
	require.NoError(t, err)
	var again obstest.LogBuffer
	require.NoError(t, schema.ApplyRoles(ctx, db.Pool, prefix, obstest.NewLogger(&again)))
	var limit int
	var canDelete bool
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT rolconnlimit, has_table_privilege(rolname, quote_ident($2) || '.invoices', 'DELETE')
		FROM pg_roles WHERE rolname = $1`, schema.RoleName(prefix, "keyserver"), db.Schema).Scan(&limit, &canDelete))
	require.Equal(t, roleOf(t, "keyserver").ConnectionLimit, limit)
	require.False(t, canDelete)
	for _, ev := range again.Events(t, schema.EventRoleApplied) {
		require.Nil(t, ev["created"], "the roles exist")
		if ev["role_service"] == "keyserver" {
			require.EqualValues(t, 50, ev["previous_connection_limit"])
		} else {
			require.Nil(t, ev["previous_connection_limit"], ev["role_service"])
		}
	}
}

func containsWord(privileges, priv string) bool {
	for _, p := range splitPrivileges(privileges) {
		if p == priv {
			return true
		}
	}
	return false
}

func splitPrivileges(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// The services' own shop operations, each under the service's role: the
// grants let them through, and refuse a service what it has no business
// doing.
func TestRolesRunTheirServicesQueries(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := pgdbtest.New(t)
	as := func(service string) *shop.Shop { return shop.New(db.As(t, service), shop.Config{}) }
	// One pool, as one replica: the role's limit is the budget's.
	webapp := as("webapp")
	_, err := db.Pool.Exec(ctx, `INSERT INTO users (id, chat_id) VALUES (1, 1)`)
	require.NoError(t, err)

	// A user orders in the bot; the payment is applied (ledger, balances by
	// its trigger, a subscription), and the cabinet reads the balance.
	inv, err := as("bot-handler").CreateOrder(ctx, 1, "m1", shop.ProviderStars)
	require.NoError(t, err)
	sub, applied, err := as("payment-watcher").ApplyPayment(ctx, inv.ID, "charge-1")
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, int64(1), sub.UserID)
	_, err = webapp.Balance(ctx, 1, shop.CurrencyXTR)
	require.NoError(t, err)

	// An admin grants Stars (the ledger's trigger writes balances, the
	// audit its row), and the user buys a plan with them in the cabinet.
	_, err = as("bot-handler").AdminGrantBalance(ctx, shop.Act{OpKey: "grant-1", AdminID: 1}, 1, shop.CurrencyXTR, 1000)
	require.NoError(t, err)
	_, applied, err = webapp.BuyFromBalance(ctx, "buy-1", 1, "m1", shop.CurrencyXTR)
	require.NoError(t, err)
	require.True(t, applied)
	balance, err := webapp.Balance(ctx, 1, shop.CurrencyXTR)
	require.NoError(t, err)
	require.Less(t, balance, int64(1000), "the purchase was paid from the balance")
	_, err = webapp.AdminGrantBalance(ctx, shop.Act{OpKey: "grant-2", AdminID: 1}, 1, shop.CurrencyXTR, 1000)
	requireDenied(t, err, "the cabinet has no admin's powers")

	// The rest of what the cabinet reads and writes: its screens, a Stars
	// order of a press, a Crypto Pay order on offer.
	_, err = webapp.Cabinet(ctx, 1)
	require.NoError(t, err)
	_, err = webapp.Banned(ctx, 1)
	require.NoError(t, err)
	_, err = webapp.UserInfo(ctx, 1)
	require.NoError(t, err)
	_, _, err = webapp.PlansFor(ctx, 1)
	require.NoError(t, err)
	_, err = webapp.Orders(ctx, 1, 20)
	require.NoError(t, err)
	_, err = webapp.ReferralStats(ctx, 1)
	require.NoError(t, err)
	_, err = webapp.CreateOrderOnce(ctx, "web:1:press-1", 1, "m1", shop.ProviderStars)
	require.NoError(t, err)
	_, err = webapp.CryptoPayOrder(ctx, 1, "m1", func(context.Context, shop.Invoice, time.Duration) (string, string, error) {
		return "77", "https://pay.example/77", nil
	})
	require.NoError(t, err)

	// The workers' reads of what is due.
	_, err = db.Pool.Exec(ctx, `INSERT INTO users (id, chat_id) VALUES (2, 2)`)
	require.NoError(t, err)
	_, err = as("bot-handler").StartTrial(ctx, 2)
	require.NoError(t, err)
	_, err = as("activation").PendingActivations(ctx, 10)
	require.NoError(t, err)
	_, err = as("expiry-cleanup").ExpiredUnrevoked(ctx, 0, 10)
	require.NoError(t, err)
	_, err = as("reminders").DueRenewals(ctx, time.Hour, shop.RenewalCycle{}, 10)
	require.NoError(t, err)
	_, err = as("payment-watcher").PendingInvoices(ctx, shop.ProviderCryptoPay, 10)
	require.NoError(t, err)
	_, err = as("keyserver").CreateOrder(ctx, 1, "m1", shop.ProviderStars)
	requireDenied(t, err)
	_, err = as("payment-watcher").CreateOrder(ctx, 1, "m1", shop.ProviderStars)
	requireDenied(t, err, "payment-watcher only applies orders the bot made")

	// The keyserver reads keys and nothing else.
	keyserver := db.As(t, "keyserver")
	var n, all int
	require.NoError(t, keyserver.QueryRow(ctx, "SELECT count(*) FROM subscriptions").Scan(&n))
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM subscriptions").Scan(&all))
	require.Equal(t, all, n)
	require.Positive(t, n)
	requireDenied(t, keyserver.QueryRow(ctx, "SELECT count(*) FROM invoices").Scan(&n))
	_, err = keyserver.Exec(ctx, "UPDATE users SET blocked_at = now()")
	requireDenied(t, err)
	_, err = keyserver.Exec(ctx, "CREATE TABLE keyserver_own (id int)")
	requireDenied(t, err)
}
