package shop_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/shop"
)

func TestTheAuditTrailIsAppendOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1)
	_, err := e.shop.Ban(t.Context(), act("ban-1"), 1)
	require.NoError(t, err)
	for _, sql := range []string{
		`UPDATE admin_audit SET note = 'nothing happened'`,
		`UPDATE admin_audit SET admin_id = 1`,
		`DELETE FROM admin_audit`,
		`TRUNCATE admin_audit`,
	} {
		_, err := e.pool.Exec(t.Context(), sql)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr, sql)
		require.Equal(t, "23514", pgErr.Code, sql)
		require.Contains(t, pgErr.Message, "append-only", sql)
	}
	got, err := e.shop.Audit(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "ban-1", got[0].OpKey)
	require.Equal(t, owner, int(got[0].AdminID))
	require.Empty(t, got[0].Note)
}

func TestAuditListsTheLatestActionsNewestFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser(t, 1, 2)
	for i := range 3 {
		for _, user := range []int64{1, 2} {
			_, err := e.shop.AdminMessage(t.Context(), act(fmt.Sprintf("msg-%d-%d", user, i)), user, "hi")
			require.NoError(t, err)
			e.clock.Advance(time.Minute)
		}
	}
	_, err := e.shop.SetRole(t.Context(), act("role-1"), 3, shop.RoleAdmin)
	require.NoError(t, err)

	keys := func(es []shop.AuditEntry) []string {
		var ks []string
		for _, a := range es {
			ks = append(ks, a.OpKey)
		}
		return ks
	}
	all, err := e.shop.Audit(t.Context(), 0, 4)
	require.NoError(t, err)
	require.Equal(t, []string{"role-1", "msg-2-2", "msg-1-2", "msg-2-1"}, keys(all))
	one, err := e.shop.Audit(t.Context(), 1, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"msg-1-2", "msg-1-1", "msg-1-0"}, keys(one))
	require.True(t, one[0].CreatedAt.After(one[1].CreatedAt))
	none, err := e.shop.Audit(t.Context(), 99, 10)
	require.NoError(t, err)
	require.Empty(t, none)
}
