package outline_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/sandbox/outline"
)

// Seeded keys are keys as PUT /access-keys/{id} would have made them:
// served by the API, with working access URLs; a taken id seeds none.
func TestSeededKeysAreServedAsCreatedOnes(t *testing.T) {
	t.Parallel()
	s := start(t, outline.Config{})
	status, body := call(t, s, http.MethodPut, s.APIURL()+"/access-keys/made-by-api", `{"name":"made-by-api"}`)
	require.Equal(t, http.StatusCreated, status, body)
	seeded, err := s.Seed([]outline.Key{{ID: "seeded-1", Name: "first"}, {ID: "seeded-2", Name: "second"}})
	require.NoError(t, err)
	require.Len(t, seeded, 2)

	status, body = call(t, s, http.MethodGet, s.APIURL()+"/access-keys/seeded-1", "")
	require.Equal(t, http.StatusOK, status, body)
	got := decode[outline.Key](t, body)
	require.Equal(t, "first", got.Name)
	require.Equal(t, seeded[0].AccessURL, got.AccessURL)
	require.True(t, s.KeyWorks(seeded[0].AccessURL))
	require.True(t, s.KeyWorks(seeded[1].AccessURL))
	require.NotEqual(t, seeded[0].AccessURL, seeded[1].AccessURL, "each key has its own secret")

	_, err = s.Seed([]outline.Key{{ID: "seeded-3"}, {ID: "made-by-api"}})
	require.ErrorContains(t, err, "made-by-api")
	_, found := s.Key("seeded-3")
	require.False(t, found, "a refused seed adds nothing")
	require.Equal(t, 3, s.Accounts())
}
