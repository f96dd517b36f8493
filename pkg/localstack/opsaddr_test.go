package localstack

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpsAddrInTheConfiguredBlock(t *testing.T) {
	s := &Stack{cfg: Config{OpsPort: 19100}}
	for label, want := range map[string]string{
		Gateway:           "127.0.0.1:19100",
		ExpiryCleanup:     "127.0.0.1:19106",
		BotHandler + "-0": "127.0.0.1:19110",
		BotHandler + "-3": "127.0.0.1:19113",
	} {
		got, err := s.opsAddr(label)
		require.NoError(t, err, label)
		require.Equal(t, want, got, label)
	}
	_, err := s.opsAddr(Migrate)
	require.ErrorContains(t, err, "unknown service")

	free := &Stack{}
	got, err := free.opsAddr(Gateway)
	require.NoError(t, err)
	require.NotEqual(t, "127.0.0.1:0", got, "without OpsPort each service gets a free port")
}
