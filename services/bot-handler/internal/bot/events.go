package bot

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// StreamActivations publishes activation requests on the EVENTS stream.
type StreamActivations struct {
	JS jetstream.JetStream
}

// RequestActivation publishes activation.requested for the period. at must
// be a time the database keeps for this request (the trial's start, the
// expiry a payment set), not the clock: the message id is built from it, so
// a retried publish is stored once.
func (a StreamActivations) RequestActivation(ctx context.Context, sub shop.Subscription, reason string, at time.Time) error {
	err := events.PublishActivationRequested(ctx, a.JS, &vpnbotv1.ActivationRequested{
		SubscriptionId: sub.ID,
		UserId:         sub.UserID,
		Reason:         reason,
		RequestedAt:    timestamppb.New(at),
	})
	if err != nil {
		return fmt.Errorf("requesting activation (%s): %w", reason, err)
	}
	return nil
}

// orderPayload names an order in a Crypto Pay invoice, as in a Stars one, so
// the payment-watcher finds the order from either.
func orderPayload(invoiceID int64) string { return shop.StarsPayload(invoiceID) }

// cryptoInvoice is the Crypto Pay invoice of an order, payable for ttl.
func cryptoInvoice(inv shop.Invoice, title string, assets []string, ttl time.Duration) cryptopay.CreateInvoice {
	return cryptopay.CreateInvoice{
		AmountUSD:      inv.PriceUSD,
		AcceptedAssets: assets,
		Description:    "VPN: " + title,
		Payload:        orderPayload(inv.ID),
		ExpiresIn:      ttl,
	}
}
