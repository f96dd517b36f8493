package activation

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/events"
)

// Durable is the name of the consumer of activation.requested that the
// replicas share: each event wakes one of them.
const Durable = "activation"

// WakeConsumer returns the consumer that calls wake for every
// activation.requested event. An event is only a hint, the database is the
// truth, so every one is acknowledged at once and the consumer starts at the
// events stored after it was created: polling covers the rest. wake gets the
// event's ctx (worker.WakeFrom), so the iteration continues the trace of the
// payment that asked for the activation.
func WakeConsumer(js jetstream.JetStream, wake func(ctx context.Context), log zerolog.Logger, reg prometheus.Registerer) (*bus.Consumer, error) {
	return bus.NewConsumer(js, bus.ConsumerConfig{
		Stream:      events.Stream,
		Subject:     events.SubjectActivationRequested,
		Durable:     Durable,
		Description: "wakes the activation worker",
		Mode:        bus.Shared,
		DeliverNew:  true,
		HandleFunc: func(ctx context.Context, _ bus.Delivery) error {
			wake(ctx)
			return nil
		},
	}, log, reg)
}
