package localstack

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpsAddrInTheConfiguredBlock(t *testing.T) {
	s := &Stack{cfg: Config{OpsPort: 19100}}
	for _, c := range []struct {
		name    string
		replica int
		want    string
	}{
		{Gateway, 0, "127.0.0.1:19100"},
		{ExpiryCleanup, 0, "127.0.0.1:19106"},
		{BotHandler, 0, "127.0.0.1:19110"},
		{BotHandler, 3, "127.0.0.1:19113"},
	} {
		got, err := s.opsAddr(specOf(c.name), c.replica)
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, got, "%s %d", c.name, c.replica)
	}
	_, err := s.opsAddr(specOf(Migrate), 0)
	require.ErrorContains(t, err, "no ops endpoint")

	free := &Stack{}
	got, err := free.opsAddr(specOf(Gateway), 0)
	require.NoError(t, err)
	require.NotEqual(t, "127.0.0.1:0", got, "without OpsPort each service gets a free port")
}
