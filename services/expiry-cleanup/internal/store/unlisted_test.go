package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/pgdb/pgdbtest"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/store"
)

// An account recorded under the per-period name of an older version (kept
// by the migration to accounts) is never in a panel's listing of this
// bot's accounts, which holds the "_u<user id>" names only: it is not
// judged missing, or every pass would re-create it and count it as drift.
func TestUnlistedLeavesAccountsOfOlderNamesAlone(t *testing.T) {
	t.Parallel()
	db := pgdbtest.New(t)
	for user, name := range map[int64]string{1: "vpnbot_u1", 2: "vpnbot-17", 3: "vpnbot_18"} {
		_, err := db.Pool.Exec(t.Context(), `
			WITH u AS (INSERT INTO users (id, chat_id, language) VALUES ($1, $1, 'en') RETURNING id),
			s AS (INSERT INTO subscriptions (user_id, kind, status, starts_at, expires_at)
				SELECT id, 'paid', 'active', now() - interval '1 day', now() + interval '1 day' FROM u RETURNING id, user_id),
			c AS (INSERT INTO vpn_accounts (user_id, panel, name, external_id, access_url, created_at, updated_at)
				SELECT user_id, 'outline', $2, $2, 'ss://' || $2, now() - interval '1 hour', now() - interval '1 hour' FROM s)
			INSERT INTO vpn_accesses (subscription_id, panel, external_id, access_url, created_at)
			SELECT id, 'outline', $2, 'ss://' || $2, now() - interval '1 hour' FROM s`, user, name)
		require.NoError(t, err)
	}
	missing, err := store.New(db.Pool).Unlisted(t.Context(), "outline", []string{}, time.Now(), time.Now(), 10)
	require.NoError(t, err)
	require.Len(t, missing, 1)
	require.Equal(t, "vpnbot_u1", missing[0].Name)
}
