package watcher

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vpnbot/vpnbot/pkg/bus"
	"github.com/vpnbot/vpnbot/pkg/cryptopay"
	"github.com/vpnbot/vpnbot/pkg/events"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// Event names of the watcher's log lines.
const (
	// EventPaymentApplied: a paid invoice extended (or started) a period, or
	// topped up a balance.
	EventPaymentApplied = "PAYMENT_APPLIED"
	// EventInvoiceExpired: a pending invoice was marked expired.
	EventInvoiceExpired = "INVOICE_EXPIRED"
	// EventUnknownInvoice: a webhook or a poll reported a payment of a
	// Crypto Pay invoice that is none of our orders' (reason no_order or
	// other_order); nothing is applied, and the event is acknowledged.
	EventUnknownInvoice = "PAYMENT_UNKNOWN_INVOICE"
	// EventPaymentAnnouncedLate: the poller announced a payment applied
	// before it, whose announcement was lost (the watcher that applied it
	// died, or NATS was down).
	EventPaymentAnnouncedLate = "PAYMENT_ANNOUNCED_LATE"
	// EventMalformedUpdate: a stored webhook body is not an update; it is
	// dead-lettered (it was signed, so Crypto Pay sent something new to us).
	EventMalformedUpdate = "PAYMENT_EVENT_MALFORMED"
)

// ReasonPayment is the reason of the activation requests the watcher makes.
const ReasonPayment = "payment"

// Reasons a paid Crypto Pay invoice is none of our orders', in
// PAYMENT_UNKNOWN_INVOICE.
const (
	// unknownNoOrder: no order of ours is attached to its id.
	unknownNoOrder = "no_order"
	// unknownOtherOrder: its id is attached to an order its payload does
	// not name, so it is another invoice under the same id (a sandbox
	// Crypto Pay started afresh hands out old ids again).
	unknownOtherOrder = "other_order"
)

// Sources of a payment report, in logs and metrics.
const (
	sourceWebhook = "webhook"
	sourcePoll    = "poll"
	// sourceCheck is a user's "I paid" (Check).
	sourceCheck = "check"
)

// Defaults of Config.
const (
	DefaultPollLimit      = 5000
	DefaultDurable        = "payment-watcher"
	DefaultHandlerTimeout = 20 * time.Second
	DefaultRetryBase      = time.Second
	DefaultRetryMax       = time.Minute
	DefaultFetchWait      = 5 * time.Second
)

// Invoices is what the watcher asks Crypto Pay; *cryptopay.Client is one.
type Invoices interface {
	GetInvoices(ctx context.Context, ids []int64) ([]cryptopay.Invoice, error)
}

// Config tunes a Watcher. Zero fields take the defaults.
type Config struct {
	// PollLimit is how many pending invoices one poll looks at, oldest
	// first (default 5000).
	PollLimit int
	// Durable names the consumer of payments.cryptopay (default "payment-watcher").
	Durable string
	// HandlerTimeout bounds handling one event (default 20s); one past it
	// is retried.
	HandlerTimeout time.Duration
	// RetryBase and RetryMax shape the delay before an event that failed is
	// delivered again: RetryBase doubling per delivery, at most RetryMax.
	RetryBase, RetryMax time.Duration
	// FetchWait is the longest one fetch waits for an event (default 5s).
	FetchWait time.Duration
	// NowFunc is the clock deciding whether an order is past its TTL
	// (default time.Now).
	NowFunc func() time.Time
}

func (c Config) withDefaults() Config {
	if c.PollLimit <= 0 {
		c.PollLimit = DefaultPollLimit
	}
	if c.Durable == "" {
		c.Durable = DefaultDurable
	}
	if c.HandlerTimeout <= 0 {
		c.HandlerTimeout = DefaultHandlerTimeout
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = max(DefaultRetryMax, c.RetryBase)
	}
	if c.FetchWait <= 0 {
		c.FetchWait = DefaultFetchWait
	}
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	return c
}

// Deps are what a Watcher works with.
type Deps struct {
	Shop      *shop.Shop
	CryptoPay Invoices
	// JS publishes notifications and activation requests and consumes
	// payments.cryptopay.
	JS  jetstream.JetStream
	Log zerolog.Logger
	// Registerer receives the watcher's metrics (nil: not exported).
	Registerer prometheus.Registerer
}

// Watcher applies Crypto Pay payments reported by webhook events or found by
// polling.
type Watcher struct {
	cfg      Config
	shop     *shop.Shop
	invoices Invoices
	js       jetstream.JetStream
	log      zerolog.Logger
	m        *metrics
	consumer *bus.Consumer
	backlog  backlog
}

// backlog is what the poller left undone, for the paid-unapplied gauge: paid
// at Crypto Pay and not applied, and applied and not announced. Each count
// is kept until a poll can count it again (Crypto Pay or the database down).
// Atomic: an iteration abandoned at its timeout may still be running.
type backlog struct {
	unapplied, unannounced atomic.Int64
}

// New returns a watcher. It starts nothing.
func New(cfg Config, d Deps) (*Watcher, error) {
	if d.Shop == nil || d.CryptoPay == nil || d.JS == nil {
		return nil, errors.New("creating the payment watcher: Shop, CryptoPay and JS are required")
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		cfg:      cfg.withDefaults(),
		shop:     d.Shop,
		invoices: d.CryptoPay,
		js:       d.JS,
		log:      d.Log,
		m:        m,
	}
	if w.consumer, err = w.newConsumer(d.Registerer); err != nil {
		return nil, err
	}
	return w, nil
}

// apply applies the paid order inv. Reported again, it changes nothing.
func (w *Watcher) apply(ctx context.Context, inv shop.Invoice, source string) (applied bool, err error) {
	sub, applied, err := w.shop.ApplyPayment(ctx, inv.ID, "")
	if err != nil {
		return false, err
	}
	log := w.log.With().Int64("invoice_id", inv.ID).Str("external_id", inv.ExternalID).Int64("user_id", inv.UserID).
		Int64("subscription_id", sub.ID).Str("source", source).Ctx(ctx).Logger()
	if applied {
		w.m.payments.WithLabelValues(source, "applied").Inc()
		log.Info().Str("event", EventPaymentApplied).Str("purpose", inv.Purpose).Str("plan_id", inv.PlanID).Str("price_usd", inv.PriceUSD).
			Time("expires_at", sub.ExpiresAt).Msg("crypto pay payment applied")
	} else {
		w.m.payments.WithLabelValues(source, "already_applied").Inc()
		log.Debug().Msg("crypto pay payment reported again; already applied")
	}
	return applied, nil
}

// ofOrder reports whether the Crypto Pay invoice r, found under the id
// attached to our order inv, is the invoice made for it: the bot-handler
// names the order in each invoice's payload.
func ofOrder(r cryptopay.Invoice, inv shop.Invoice) bool {
	return r.Payload == shop.StarsPayload(inv.ID)
}

// unknownPayment logs and counts a payment of a Crypto Pay invoice that is
// none of our orders': the money was taken, and nothing is given for it, so
// an operator must see it. log carries the invoice's external_id.
func (w *Watcher) unknownPayment(r cryptopay.Invoice, source, reason string, log zerolog.Logger) {
	w.m.payments.WithLabelValues(source, "unknown_invoice").Inc()
	log.Warn().Str("event", EventUnknownInvoice).Str("reason", reason).
		Str("source", source).Str("payload", r.Payload).Str("amount", r.Amount).Str("paid_asset", r.PaidAsset).
		Str("paid_amount", r.PaidAmount).Msg("crypto pay reports a payment of an invoice that is none of our orders'; nothing applied")
}

// announce tells the user of the paid invoice and, for a plan, wakes the
// activation worker, then marks the payment announced. Every id is built
// from what the database keeps (the invoice id, its paid_at), so announcing
// the same payment again adds nothing: the streams' duplicate windows and
// the sender's sent-log drop the repeat.
func (w *Watcher) announce(ctx context.Context, invoiceID int64) error {
	if err := w.publishAnnouncement(ctx, invoiceID); err != nil {
		return fmt.Errorf("announcing the payment of invoice %d: %w", invoiceID, err)
	}
	return w.shop.MarkAnnounced(ctx, invoiceID)
}

// publishAnnouncement publishes the "Payment received" message, with the
// expiry of the period the invoice paid for as it is now (so a late
// announcement includes later payments into that period), and the
// activation request of that period. A top-up paid for no period: its
// message says what it added to the balance and what the balance is now,
// and nothing is activated.
func (w *Watcher) publishAnnouncement(ctx context.Context, invoiceID int64) error {
	paid, err := w.shop.Invoice(ctx, invoiceID)
	if err != nil {
		return err
	}
	if paid.Status != shop.InvoicePaid || paid.PaidAt == nil {
		return fmt.Errorf("the invoice is %s, not paid", paid.Status)
	}
	user, err := w.shop.UserInfo(ctx, paid.UserID)
	if err != nil {
		return err
	}
	chatID := user.ChatID
	if chatID == 0 {
		chatID = user.ID // a private chat's id is the user's
	}
	lang := notify.Language(user.Language)
	if paid.Purpose == shop.PurposeTopUp {
		balance, err := w.shop.Balance(ctx, paid.UserID, paid.Currency())
		if err != nil {
			return err
		}
		_, err = outbox.Publish(ctx, w.js, notify.TopUpReceived(lang, chatID, paid.ID, paid.Currency(), paid.Price, balance))
		return err
	}
	sub, err := w.shop.Subscription(ctx, paid.SubscriptionID)
	if err != nil {
		return err
	}
	msg := notify.PaymentReceived(lang, chatID, paid.ID, sub.ExpiresAt)
	if _, err := outbox.Publish(ctx, w.js, msg); err != nil {
		return err
	}
	return events.PublishActivationRequested(ctx, w.js, &vpnbotv1.ActivationRequested{
		SubscriptionId: sub.ID,
		UserId:         sub.UserID,
		Reason:         ReasonPayment,
		RequestedAt:    timestamppb.New(*paid.PaidAt),
	})
}

// expire marks a pending order expired, saying why.
func (w *Watcher) expire(ctx context.Context, inv shop.Invoice, reason string) (bool, error) {
	expired, err := w.shop.ExpireInvoice(ctx, inv.ID)
	if err != nil || !expired {
		return false, err
	}
	w.m.expired.WithLabelValues(reason).Inc()
	w.log.Info().Ctx(ctx).Str("event", EventInvoiceExpired).Int64("invoice_id", inv.ID).Str("external_id", inv.ExternalID).
		Int64("user_id", inv.UserID).Str("reason", reason).Time("expires_at", inv.ExpiresAt).Msg("invoice expired")
	return true, nil
}
