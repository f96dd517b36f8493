package budget_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/pkg/schema"
	"github.com/vpnbot/vpnbot/tools/internal/budget"
)

func TestRolesMatchTheBudget(t *testing.T) {
	b, err := budget.Load(repoRoot(t) + "/" + budget.File)
	require.NoError(t, err)
	require.Empty(t, b.CheckRoles(schema.Roles))
	for _, r := range schema.Roles {
		require.Equal(t, b.Services[r.Service].Connections(), r.ConnectionLimit, r.Service)
	}
}

func TestBudgetRaisedWithoutTheRoleFails(t *testing.T) {
	root := copyRepo(t)
	// The file and the manifests raised alike; the role's limit was not.
	edit(t, root, budget.File, "  keyserver:\n    pool: 2", "  keyserver:\n    pool: 3")
	edit(t, root, "deploy/k8s/base/keyserver.yaml",
		"- name: DB_POOL_MAX_SIZE\n              value: \"2\"", "- name: DB_POOL_MAX_SIZE\n              value: \"3\"")
	edit(t, root, budget.ComposeFile, "OPS_ADDR: \":9109\"\n      DB_POOL_MAX_SIZE: \"2\"", "OPS_ADDR: \":9109\"\n      DB_POOL_MAX_SIZE: \"3\"")

	_, err := budget.Check(root)
	require.Error(t, err)
	require.Equal(t, "pkg/schema Roles: keyserver: CONNECTION LIMIT 4, but deploy/budget.yaml gives it 3 pool × 2 replicas = 6: set ConnectionLimit to 6",
		err.Error())
}

func TestRolesWithoutAShareOrMissingFail(t *testing.T) {
	b, err := budget.Load(repoRoot(t) + "/" + budget.File)
	require.NoError(t, err)
	var roles []schema.Role
	for _, r := range schema.Roles {
		if r.Service != "sender" {
			roles = append(roles, r)
		}
	}
	roles = append(roles, schema.Role{Service: "gateway", ConnectionLimit: 1}, schema.Role{Service: "dlq", ConnectionLimit: 1})

	var msgs []string
	for _, err := range b.CheckRoles(roles) {
		msgs = append(msgs, err.Error())
	}
	require.ElementsMatch(t, []string{
		"pkg/schema Roles: gateway has a role, but deploy/budget.yaml gives it no connections",
		"pkg/schema Roles: dlq has a role but no share in deploy/budget.yaml",
		"pkg/schema Roles: sender: has 10 connections in deploy/budget.yaml but no role to hold them to it",
	}, msgs)
}

func TestServiceLoggingInAsTheSuperuserFails(t *testing.T) {
	root := copyRepo(t)
	edit(t, root, budget.ComposeFile, "postgres://vpnbot_sender@", "postgres://postgres:postgres@")
	edit(t, root, "deploy/k8s/base/webapp.yaml", "key: DATABASE_URL_WEBAPP}", "key: DATABASE_URL}")

	_, err := budget.Check(root)
	require.Error(t, err)
	require.Contains(t, err.Error(), "docker-compose.yml: sender: DATABASE_URL logs in as postgres; it must log in as vpnbot_sender")
	require.Contains(t, err.Error(), "deploy/k8s/base: Deployment webapp: DATABASE_URL comes from the Secret's key DATABASE_URL; "+
		"it must be DATABASE_URL_WEBAPP, the URL of the service's own role vpnbot_webapp")
}

func TestLiveRolesAgainstTheServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := pgdbtest.New(t)
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	prefix := "t" + hex.EncodeToString(b) + "_"
	conn, err := pgx.Connect(ctx, db.DSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	// Before migrate, every role is missing.
	err = budget.CheckLiveRoles(ctx, conn, prefix)
	require.Error(t, err)
	require.Contains(t, err.Error(), "role "+prefix+"keyserver: missing (run migrate)")

	t.Cleanup(func() {
		for _, r := range schema.Roles {
			role := pgx.Identifier{schema.RoleName(prefix, r.Service)}.Sanitize()
			_, err := db.Pool.Exec(context.Background(), "DROP OWNED BY "+role+"; DROP ROLE "+role)
			require.NoError(t, err)
		}
	})
	require.NoError(t, schema.ApplyRoles(ctx, db.Pool, prefix, zerolog.Nop()))
	require.NoError(t, budget.CheckLiveRoles(ctx, conn, prefix))

	// An operator raised one by hand and made another a superuser.
	_, err = db.Pool.Exec(ctx, "ALTER ROLE "+pgx.Identifier{prefix + "bot_handler"}.Sanitize()+" CONNECTION LIMIT 80")
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "ALTER ROLE "+pgx.Identifier{prefix + "sender"}.Sanitize()+" SUPERUSER")
	require.NoError(t, err)
	err = budget.CheckLiveRoles(ctx, conn, prefix)
	require.Error(t, err)
	require.Equal(t, "role "+prefix+"bot_handler: CONNECTION LIMIT 80, but the budget gives bot-handler 40 (run migrate)\n"+
		"role "+prefix+"sender: a superuser, whom no CONNECTION LIMIT binds", err.Error())
	_, err = db.Pool.Exec(ctx, "ALTER ROLE "+pgx.Identifier{prefix + "sender"}.Sanitize()+" NOSUPERUSER")
	require.NoError(t, err)
}
