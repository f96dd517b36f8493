package gateway

import (
	"context"
	"time"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/retry"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// declareTimeout bounds one attempt to declare the stream.
const declareTimeout = 5 * time.Second

// keepStream declares TG_UPDATES, retrying until NATS answers (the gateway may
// start before the broker), then declares it again whenever a publish finds
// nothing listening on its subject. It returns when ctx is done.
func (g *Gateway) keepStream(ctx context.Context) {
	delay := retry.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for attempt := 1; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, declareTimeout)
		err := bus.DeclareStreams(dctx, g.js, telegram.UpdatesStreamConfig())
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			g.streamReady.Store(false)
			wait := delay.Next()
			g.log.Warn().Str("event", EventStreamDeclareFailed).Err(err).Int("attempt", attempt).
				Dur("retry_in", wait).Msg("could not declare the updates stream; retrying")
			if !retry.Sleep(ctx, wait) {
				return
			}
			continue
		}
		delay.Reset()
		if !g.streamReady.Swap(true) {
			g.log.Info().Str("event", EventStreamDeclared).Str("stream", telegram.UpdatesStream).Msg("updates stream declared")
		}
		select {
		case <-ctx.Done():
			return
		case <-g.streamLost:
			attempt = 0
		}
	}
}

// redeclareStream asks keepStream to declare the stream again; requests
// arriving while one is pending are merged into it.
func (g *Gateway) redeclareStream() {
	select {
	case g.streamLost <- struct{}{}:
	default:
	}
}
