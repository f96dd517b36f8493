package activation_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/vpn/vpntest"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/activation/internal/activation"
)

// A ban takes the key away within one iteration, however many replicas run
// it; the unban gives the same key back without a second key message.
func TestABannedUsersKeyStopsAndTheUnbanRestoresIt(t *testing.T) {
	t.Parallel()
	for _, kind := range vpntest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			replicas := []*instance{e.instance(t, activation.Config{}), e.instance(t, activation.Config{})}
			sub := e.trial(t, newUserID(), "en")
			iterate(t, replicas[0])
			key := e.access(t, sub.ID)
			require.True(t, e.sb.LinkWorks(key.URL))

			_, err := e.db.Pool.Exec(t.Context(), `UPDATE users SET banned_at = now() WHERE id = $1`, sub.UserID)
			require.NoError(t, err)
			results := make([]worker.Result, len(replicas))
			errs := make([]error, len(replicas))
			var wg sync.WaitGroup
			for i, in := range replicas {
				wg.Go(func() { results[i], errs[i] = in.a.Iterate(t.Context()) })
			}
			wg.Wait()
			suspended := 0
			for i := range replicas {
				require.NoError(t, errs[i])
				suspended += results[i]["suspended"]
			}
			require.GreaterOrEqual(t, suspended, 1)
			require.False(t, e.sb.LinkWorks(key.URL), "a banned user's key still works")
			for _, in := range replicas {
				res := iterate(t, in)
				require.Zero(t, res["suspended"]+res["created"]+res["extended"], "a suspended account is left off")
			}
			require.False(t, e.sb.LinkWorks(key.URL))

			_, err = e.db.Pool.Exec(t.Context(), `UPDATE users SET banned_at = NULL WHERE id = $1`, sub.UserID)
			require.NoError(t, err)
			res := iterate(t, replicas[1])
			require.Equal(t, 1, res["created"])
			require.True(t, e.sb.LinkWorks(key.URL), "the unban gives the same key back")
			require.Len(t, e.messages(t), 1, "the key the user has is not sent again")
			logged := len(replicas[0].logs.Events(t, activation.EventAccountSuspended)) +
				len(replicas[1].logs.Events(t, activation.EventAccountSuspended))
			require.Equal(t, suspended, logged, "each suspension is logged")
		})
	}
}
