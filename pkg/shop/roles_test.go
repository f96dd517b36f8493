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

func TestRolesAreGrantedReplacedAndRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.clock.Now()
	e.addUser(t, 1)
	_, err := e.pool.Exec(t.Context(), `UPDATE users SET username = 'Alice' WHERE id = 1`)
	require.NoError(t, err)

	r, err := e.shop.SetRole(t.Context(), act("role-1"), 1, shop.RoleAdmin)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"role": nil}, r.Audit.Before)
	require.Equal(t, map[string]any{"role": "admin"}, r.Audit.After)
	e.clock.Advance(time.Hour)
	// One who never started the bot may be given a role ahead.
	_, err = e.shop.SetRole(t.Context(), shop.Act{OpKey: "role-2", AdminID: 1}, 2, shop.RoleSupport)
	require.NoError(t, err)

	roles, err := e.shop.Roles(t.Context())
	require.NoError(t, err)
	require.Equal(t, []shop.RoleGrant{
		{UserID: 1, Role: shop.RoleAdmin, GrantedBy: owner, GrantedAt: first, Username: "Alice"},
		{UserID: 2, Role: shop.RoleSupport, GrantedBy: 1, GrantedAt: first.Add(time.Hour)},
	}, roles)

	r, err = e.shop.SetRole(t.Context(), act("role-3"), 1, shop.RoleSupport)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"role": "admin"}, r.Audit.Before)
	require.Equal(t, map[string]any{"role": "support"}, r.Audit.After)
	role, err := e.shop.Role(t.Context(), 1)
	require.NoError(t, err)
	require.Equal(t, shop.RoleSupport, role)

	r, err = e.shop.SetRole(t.Context(), act("role-4"), 1, "")
	require.NoError(t, err)
	require.Equal(t, map[string]any{"role": "support"}, r.Audit.Before)
	require.Equal(t, map[string]any{"role": nil}, r.Audit.After)
	role, err = e.shop.Role(t.Context(), 1)
	require.NoError(t, err)
	require.Empty(t, role)
	roles, err = e.shop.Roles(t.Context())
	require.NoError(t, err)
	require.Len(t, roles, 1)
	require.EqualValues(t, 2, roles[0].UserID)

	_, err = e.shop.SetRole(t.Context(), act("role-5"), 1, shop.RoleOwner)
	require.ErrorIs(t, err, shop.ErrUnknownRole, "owners are the configuration's")
	require.Equal(t, 4, e.count(t, `SELECT count(*) FROM admin_audit WHERE action = 'role'`))
}

func TestConcurrentRoleChangesEachRecordTheRoleBefore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for round := range 3 {
		user := int64(round + 1)
		roles := []string{shop.RoleAdmin, shop.RoleSupport, ""}
		var applied atomic.Int32
		race(9, func(i int) {
			r, err := e.shop.SetRole(t.Context(), act(fmt.Sprintf("role:%d:%d", user, i)), user, roles[i%3])
			if assert.NoError(t, err) && r.Applied {
				applied.Add(1)
			}
		})
		require.EqualValues(t, 9, applied.Load(), "nine keys, nine changes")
		// Ordered by their rows, each change starts from where the one
		// before it left the role.
		got, err := e.shop.Audit(t.Context(), user, 20)
		require.NoError(t, err)
		require.Len(t, got, 9)
		prev := any(nil)
		for i := len(got) - 1; i >= 0; i-- {
			require.Equal(t, prev, got[i].Before["role"], "round %d, row %d", round, got[i].ID)
			prev = got[i].After["role"]
		}
		role, err := e.shop.Role(t.Context(), user)
		require.NoError(t, err)
		if prev == nil {
			prev = ""
		}
		require.Equal(t, prev, role, "the last change is the role")
	}
}
