package activation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
)

// recordTimeout bounds recording the keys handed to the sender, which
// happens also when the iteration's context has ended: a key published but
// not recorded is published again by the next iteration.
const recordTimeout = 5 * time.Second

// deliver is the sweep that ends an iteration: it publishes the keys still
// not delivered, those of earlier runs killed between recording an access
// and sending its key, and those whose delivery failed in activatePending.
// It publishes Concurrency at a time: drawing a key's QR code takes a
// millisecond or two of CPU.
func (a *Activator) deliver(ctx context.Context, res *tally) error {
	keys, err := a.store.Undelivered(ctx, a.cfg.NowFunc(), a.cfg.BatchSize)
	if err != nil {
		return err
	}
	var sent sentKeys
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.cfg.Concurrency)
	for _, k := range keys {
		g.Go(func() error { return a.send(gctx, k, &sent, res) })
	}
	return errors.Join(g.Wait(), a.record(ctx, &sent))
}

// send publishes one key's message and adds it to sent. A key too long for
// a message is added too, not published: it would not fit on a retry
// either, and the subscription screen shows it.
func (a *Activator) send(ctx context.Context, k undelivered, sent *sentKeys, res *tally) error {
	log := a.log.With().Int64("subscription_id", k.SubscriptionID).Int64("user_id", k.UserID).Ctx(ctx).Logger()
	msg, err := notify.KeyReady(notify.Key{Lang: notify.Language(k.Language), ChatID: k.ChatID, SubscriptionID: k.SubscriptionID, URL: k.URL, Location: a.keyLocation(k.Panel), Expires: k.ExpiresAt, App: a.cfg.App})
	if errors.Is(err, notify.ErrKeyTooLong) {
		log.Error().Str("event", EventKeyUndeliverable).Err(err).Msg("key cannot be sent in a message")
		res.add("undeliverable")
		sent.add(k)
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing the key message of subscription %d: %w", k.SubscriptionID, err)
	}
	if _, err := outbox.Publish(ctx, a.js, msg); err != nil {
		return fmt.Errorf("delivering the key of subscription %d: %w", k.SubscriptionID, err)
	}
	sent.add(k)
	log.Info().Str("event", EventKeyDelivered).Str("dedup_id", msg.GetDedupId()).Msg("key handed to the sender")
	res.add("delivered")
	return nil
}

// keyLocation is the location a key on panel is for, as its message names
// it: "" unless the fleet offers a choice of locations (botui.Offered).
func (a *Activator) keyLocation(panel string) string {
	m, ok := a.fleet.Member(panel)
	if !ok || botui.Offered(a.fleet.Locations()) == nil {
		return ""
	}
	return m.Location()
}

// record records the keys of sent delivered, in one statement. Keys are
// published to the OUTBOX first and recorded second, together once a round
// of them is out: a crash in between publishes them again, with the same
// dedup ids, which the OUTBOX and the sender drop. A key is never lost, nor
// sent twice.
func (a *Activator) record(ctx context.Context, sent *sentKeys) error {
	if len(sent.subscriptionIDs) == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	return a.store.MarkDelivered(rctx, sent.subscriptionIDs, sent.accessesMade)
}

// sentKeys collects the keys handed to the sender, from several goroutines,
// for record: a key is the subscription and when its access was made.
type sentKeys struct {
	mu              sync.Mutex
	subscriptionIDs []int64
	accessesMade    []time.Time
}

func (s *sentKeys) add(k undelivered) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subscriptionIDs = append(s.subscriptionIDs, k.SubscriptionID)
	s.accessesMade = append(s.accessesMade, k.CreatedAt)
}
