package activation

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/retry"
)

// Durable is the name of the consumer of activation.requested that the
// replicas share: each event wakes one of them.
const Durable = "activation"

// redeclareWait is the pause before declaring the consumer again after it
// failed (NATS down, consumer deleted).
const redeclareWait = time.Second

// ConsumeRequests calls wake for every activation.requested event, through a
// durable consumer on the EVENTS stream, acknowledging each: an event is only
// a hint, the database is the truth, so nothing is retried or dead-lettered.
// A consumer deleted underneath is declared again. It returns nil once ctx
// is done.
func ConsumeRequests(ctx context.Context, js jetstream.JetStream, wake func(), log zerolog.Logger) error {
	log = log.With().Str("stream", bus.StreamEvents).Str("consumer", Durable).Logger()
	for ctx.Err() == nil {
		if err := consume(ctx, js, wake); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("activation requests not consumed; declaring the consumer again")
		}
		retry.Sleep(ctx, redeclareWait)
	}
	return nil
}

// consume reads events until the consumer fails or ctx is done.
func consume(ctx context.Context, js jetstream.JetStream, wake func()) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable:       Durable,
		Description:   "wakes the activation worker",
		FilterSubject: bus.SubjectActivationRequested,
		// Events from before the consumer existed are covered by polling.
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer context.AfterFunc(ctx, it.Stop)()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		wake()
		_ = msg.Ack() // a lost ack only means one more wake
	}
}
