package updates

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/retry"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// Durable is the name prefix of the bot-handler's consumers: partition p is
// read by "bot-handler-<p>", shared by every replica.
const Durable = "bot-handler"

const (
	declareFirstDelay = 500 * time.Millisecond
	declareMaxDelay   = 10 * time.Second
)

// DeclareStreams declares the streams the bot-handler reads (TG_UPDATES) and
// writes (DLQ, EVENTS, OUTBOX), so it can start first on an empty NATS. While NATS does not
// answer it retries with backoff, until ctx is done.
func DeclareStreams(ctx context.Context, js jetstream.JetStream, log zerolog.Logger) error {
	delay := retry.Backoff{Min: declareFirstDelay, Max: declareMaxDelay}
	for {
		err := bus.DeclareStreams(ctx, js, telegram.UpdatesStreamConfig())
		if err == nil {
			err = bus.DeclareStreams(ctx, js, bus.DLQStreamConfig())
		}
		if err == nil {
			err = bus.DeclareStreams(ctx, js, events.StreamConfig())
		}
		if err == nil {
			err = bus.DeclareStreams(ctx, js, outbox.StreamConfig())
		}
		if err == nil {
			return nil
		}
		wait := delay.Next()
		log.Warn().Err(err).Dur("retry_in", wait).Msg("cannot declare the streams yet")
		if !retry.Sleep(ctx, wait) {
			return errors.Join(ctx.Err(), err)
		}
	}
}
