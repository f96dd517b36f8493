// Package events owns the EVENTS stream: things that happened, for the
// workers that act on them — activation requests (protobuf
// vpnbotv1.ActivationRequested, which wake the activation worker) and the
// raw, signature-verified Crypto Pay webhooks the gateway stores for the
// payment-watcher. Its messages are hints and inputs, never the truth: the
// workers also poll PostgreSQL, so an event lost or seen twice changes
// nothing.
package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/vpnbot/vpnbot/pkg/bus"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// The EVENTS stream and its subjects.
const (
	// Stream holds activation requests and verified payment webhooks.
	Stream = "EVENTS"
	// SubjectActivationRequested carries a protobuf
	// vpnbotv1.ActivationRequested; it wakes the activation worker.
	SubjectActivationRequested = "activation.requested"
	// SubjectCryptoPayPayments carries the raw, signature-verified body of a
	// Crypto Pay webhook, for the payment-watcher.
	SubjectCryptoPayPayments = "payments.cryptopay"
)

const (
	// eventsMaxAge keeps events long enough for a worker that was down over
	// a weekend to catch up; polling the database covers anything older.
	eventsMaxAge = 7 * 24 * time.Hour
	// eventsDuplicates covers a publisher retrying after a lost ack and
	// Crypto Pay redelivering a webhook.
	eventsDuplicates = time.Hour
)

// StreamConfig is the EVENTS stream's definition, for bus.DeclareStreams.
func StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "activation requests and verified payment webhooks",
		// payments.> rather than payments.cryptopay, so that another payment
		// provider's events need no change of the stream.
		Subjects: []string{SubjectActivationRequested, "payments.>"},
		// Limits, not work-queue: each subject has its own consumer (the
		// activation worker, the payment-watcher), and a message is kept
		// until it ages out rather than until one of them acknowledges it.
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		MaxAge:     eventsMaxAge,
		Duplicates: eventsDuplicates,
	}
}

// PublishActivationRequested publishes m on SubjectActivationRequested and
// waits, bounded by ctx, until the EVENTS stream has stored it. Its
// Nats-Msg-Id is "activation:<subscription_id>:<reason>:<requested_at unix
// nanos>", so a publisher retrying the same request within the duplicate
// window stores it once. m must name a subscription and carry requested_at.
func PublishActivationRequested(ctx context.Context, js jetstream.JetStream, m *vpnbotv1.ActivationRequested) error {
	if m.GetSubscriptionId() == 0 || m.GetRequestedAt() == nil {
		return errors.New("publishing activation request: subscription_id and requested_at are required")
	}
	data, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding activation request for subscription %d: %w", m.GetSubscriptionId(), err)
	}
	msgID := "activation:" + strconv.FormatInt(m.GetSubscriptionId(), 10) + ":" + m.GetReason() + ":" +
		strconv.FormatInt(m.GetRequestedAt().AsTime().UnixNano(), 10)
	if _, err := bus.Publish(ctx, js, SubjectActivationRequested, data, msgID); err != nil {
		return fmt.Errorf("requesting activation of subscription %d: %w", m.GetSubscriptionId(), err)
	}
	return nil
}
