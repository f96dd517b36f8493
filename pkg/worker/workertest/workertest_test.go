package workertest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestAtOnceRunsEveryIterationTogether(t *testing.T) {
	t.Parallel()
	var arrived atomic.Int32
	all := make(chan struct{})
	// Each waits for the others: AtOnce returns only if all ran at once.
	meet := func() {
		if arrived.Add(1) == 3 {
			close(all)
		}
		<-all
	}
	AtOnce(t, meet, meet, meet)
	require.EqualValues(t, 3, arrived.Load())
}

func TestWindowsThatDoNotOverlapAreReported(t *testing.T) {
	t.Parallel()
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	require.NoError(t, overlapping([]window{{at(0), at(10)}, {at(5), at(20)}, {at(9), at(11)}}))
	require.ErrorContains(t, overlapping([]window{{at(0), at(10)}, {at(5), at(20)}, {at(10), at(30)}}),
		"iterations 0 (")
	require.ErrorContains(t, overlapping([]window{{at(0), at(10)}, {at(5), at(20)}, {at(10), at(30)}}),
		"and 2 (")
	require.Error(t, overlapping([]window{{at(20), at(30)}, {at(0), at(10)}}), "in either order")
}
