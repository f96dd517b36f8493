package webapp

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestALimiterForgetsTheLeastRecentlySeenFirst(t *testing.T) {
	t.Parallel()
	l := newLimiter(0.0001, 1, 3)
	for _, k := range []string{"a", "b", "c"} {
		require.True(t, l.allow(k), k)
	}
	require.False(t, l.allow("a"), "a's burst is spent")
	require.True(t, l.allow("d"), "a new key, b forgotten to make room")
	require.Equal(t, 3, l.size())
	require.False(t, l.allow("a"), "a was seen since b: still limited")
	require.True(t, l.allow("b"), "b was forgotten: a full burst again")

	for i := range 100 {
		l.allow(strconv.Itoa(i))
	}
	require.Equal(t, 3, l.size(), "bounded whatever the number of keys")
}
