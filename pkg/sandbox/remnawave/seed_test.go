package remnawave_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/remnawave"
)

// Seeded users are users as the API would have made them: addressed by the
// ids they were given, after those made before, with working links; a
// taken username seeds none.
func TestSeededUsersAreServedAsCreatedOnes(t *testing.T) {
	t.Parallel()
	e := start(t, remnawave.Config{Version: remnawave.Version3})
	first := e.createV3("made_by_api")
	expiry := time.Now().Add(24 * time.Hour).Truncate(time.Millisecond).UTC()
	seeded, err := e.s.Seed([]remnawave.User{
		{Username: "seeded_1", ExpireAt: expiry},
		{Username: "seeded_2", ExpireAt: expiry, Status: remnawave.StatusDisabled},
	})
	require.NoError(t, err)
	require.Len(t, seeded, 2)
	require.Equal(t, first.ID+1, seeded[0].ID)
	require.Equal(t, first.ID+2, seeded[1].ID)

	status, body := e.api(http.MethodGet, "/api/users/"+strconv.FormatInt(seeded[0].ID, 10), "")
	require.Equal(t, http.StatusOK, status, body)
	got := decode[envelope[user]](t, body).Response
	require.Equal(t, "seeded_1", got.Username)
	require.Equal(t, remnawave.StatusActive, got.Status)
	require.Equal(t, seeded[0].SubscriptionURL, got.SubscriptionURL)
	parsed, err := time.Parse(time.RFC3339Nano, got.ExpireAt)
	require.NoError(t, err)
	require.True(t, expiry.Equal(parsed), "expireAt %s, want %s", got.ExpireAt, expiry)

	status, sub := e.fetch(seeded[0].SubscriptionURL)
	require.Equal(t, http.StatusOK, status)
	require.True(t, remnawave.SubscriptionWorks(sub), "an active seeded user's link connects")
	_, sub = e.fetch(seeded[1].SubscriptionURL)
	require.False(t, remnawave.SubscriptionWorks(sub), "a disabled seeded user's link does not")

	_, err = e.s.Seed([]remnawave.User{{Username: "seeded_3", ExpireAt: expiry}, {Username: "made_by_api", ExpireAt: expiry}})
	require.ErrorContains(t, err, "made_by_api")
	_, found := e.s.User("seeded_3")
	require.False(t, found, "a refused seed adds nobody")
	require.Equal(t, 3, e.s.Accounts())
}
