package sender_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sandboxtg "github.com/vpnbot/vpnbot/pkg/sandbox/telegram"
	"github.com/vpnbot/vpnbot/pkg/telegram/chatpace"
	"github.com/vpnbot/vpnbot/services/sender/internal/sender"
)

// BenchmarkBroadcast sends a broadcast of b.N messages to b.N chats through
// the sender at its defaults, with the shared budget in PostgreSQL as in
// production, against the sandbox at Telegram's own limits (30/s free,
// 1,000/s paid, 1/s per chat): paid, it reports the achieved rate as a
// fraction of SENDER_PAID_RATE (goal 0.95), free as one of SENDER_RATE
// (goal 0.97), and the 429s (goal 0) and, paid, the Stars' worth of
// messages. The broadcast is -benchtime 20000x; the free one then
// takes over 13 minutes.
func BenchmarkBroadcast(b *testing.B) {
	for _, paid := range []bool{true, false} {
		name, limit := "free", float64(sender.DefaultRate)
		if paid {
			name, limit = "paid", sender.DefaultPaidRate
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, sandboxtg.Config{})
			e.withPacer(b, chatpace.DefaultSettings())
			for i := range b.N {
				m := cmd(int64(100_000+i), "news", broadcast)
				m.PaidBroadcast, m.BroadcastId = paid, 1
				e.publish(b, m)
			}
			in := e.newInstance(b, sender.Config{}) // the defaults
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			b.ResetTimer()
			go func() { done <- in.s.Lead(ctx) }()
			deadline := time.After(time.Duration(float64(b.N)/limit*float64(time.Second)) + time.Minute)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
		wait:
			for len(e.rec.sent()) < b.N {
				select {
				case <-deadline:
					break wait
				case <-tick.C:
				}
			}
			b.StopTimer()
			cancel()
			require.NoError(b, <-done)
			calls := e.rec.of(0)
			tooMany := e.sb.Stats().TooManyRequests
			b.ReportMetric(float64(tooMany), "429s")
			if paid {
				b.ReportMetric(float64(e.sb.Stats().PaidBroadcasts), "paid_msgs")
			}
			if b.N > 1 && len(calls) > 1 {
				elapsed := calls[len(calls)-1].start.Sub(calls[0].start).Seconds()
				b.ReportMetric(float64(len(e.rec.sent())-1)/elapsed/limit, "rate_fraction")
			}
			require.Len(b, e.rec.sent(), b.N, "not every message was sent in time")
			require.Zero(b, tooMany, "the sender went over Telegram's limits: %v", fmt.Sprint(e.sb.Floods()))
		})
	}
}
