package webapp

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// reasonPayment is the activation request's reason for a period a payment
// or a purchase extended, as the bot names it.
const reasonPayment = "payment"

// publishTimeout bounds the wake-up a purchase publishes: with NATS down
// the purchase is answered anyway, and the worker's poll finds the period.
const publishTimeout = 2 * time.Second

// StreamActivations publishes activation requests on the EVENTS stream.
type StreamActivations struct {
	JS jetstream.JetStream
}

// RequestActivation publishes activation.requested for the period a
// purchase extended. Its message id is built from the expiry the purchase
// set, as the bot's is, so a request repeated is stored once.
func (a StreamActivations) RequestActivation(ctx context.Context, sub shop.Subscription) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	err := events.PublishActivationRequested(ctx, a.JS, &vpnbotv1.ActivationRequested{
		SubscriptionId: sub.ID,
		UserId:         sub.UserID,
		Reason:         reasonPayment,
		RequestedAt:    timestamppb.New(sub.ExpiresAt),
	})
	if err != nil {
		return fmt.Errorf("waking the activation worker: %w", err)
	}
	return nil
}
