package bus_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/bus"
)

func TestListAndReplayDLQ(t *testing.T) {
	t.Parallel()
	_, js := setup(t)
	ctx := context.Background()
	var rec recorder
	_, log := newLog()
	startConsumer(t, js, fastConfig(2), func(_ context.Context, d bus.Delivery) error {
		rec.add(d)
		if !strings.Contains(d.MsgID, ":replay:") {
			return bus.Permanent(errors.New("plan not found"))
		}
		return nil
	}, log, nil)
	publish(t, js, 0, "x", "bot1:5")
	require.Eventually(t, func() bool { return len(listDLQ(t, js)) == 1 }, 5*time.Second, 10*time.Millisecond)
	publish(t, js, 1, "y", "bot1:6")
	require.Eventually(t, func() bool { return len(listDLQ(t, js)) == 2 }, 5*time.Second, 10*time.Millisecond)

	first, err := bus.ListDLQ(ctx, js, testStream, 1)
	require.NoError(t, err)
	require.Len(t, first, 1)
	require.Equal(t, "x", string(first[0].Data))
	require.Equal(t, "bot1:5", first[0].MsgID)
	other, err := bus.ListDLQ(ctx, js, "OUTBOX", 0)
	require.NoError(t, err)
	require.Empty(t, other, "entries are listed per original stream")
	all, err := bus.ListDLQ(ctx, js, "", 0)
	require.NoError(t, err)
	require.Len(t, all, 2)

	seq := first[0].Seq
	require.NoError(t, bus.ReplayDLQ(ctx, js, seq))
	require.Eventually(t, func() bool { return rec.count("x") == 2 }, 5*time.Second, 10*time.Millisecond)
	replayed := rec.deliveries()[len(rec.deliveries())-1]
	require.Equal(t, "bot1:5:replay:"+strconv.FormatUint(seq, 10), replayed.MsgID)
	require.Equal(t, "test.0", replayed.Subject)
	require.Empty(t, replayed.Header.Get(bus.HeaderDLQReason), "a replayed message carries no DLQ headers")

	left := listDLQ(t, js)
	require.Len(t, left, 1, "a replayed entry leaves the DLQ; a handled replay adds none")
	require.Equal(t, "y", string(left[0].Data))
	require.Error(t, bus.ReplayDLQ(ctx, js, seq), "an entry is replayed once")
}
