package activation

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// deliver publishes the keys not yet delivered to the OUTBOX and records
// each once the stream has it. Publishing first and recording second means a
// crash in between publishes the key again, with the same dedup id, which
// the OUTBOX and the sender drop: a key is never lost, nor sent twice.
//
// Keys are delivered Concurrency at a time: drawing a key's QR code takes a
// few milliseconds of CPU, which one by one would bound the worker's rate
// more than the panel does.
func (a *Activator) deliver(ctx context.Context, res worker.Result) error {
	keys, err := a.store.Undelivered(ctx, a.cfg.NowFunc(), a.cfg.BatchSize)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	count := func(item string) {
		mu.Lock()
		defer mu.Unlock()
		res[item]++
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.cfg.Concurrency)
	for _, k := range keys {
		g.Go(func() error { return a.deliverOne(gctx, k, count) })
	}
	return g.Wait()
}

func (a *Activator) deliverOne(ctx context.Context, k undelivered, count func(string)) error {
	log := a.log.With().Int64("subscription_id", k.SubscriptionID).Int64("user_id", k.UserID).Logger()
	msg, err := notify.KeyReady(notify.Language(k.Language), k.ChatID, k.SubscriptionID, k.Panel, k.URL, k.ExpiresAt)
	if errors.Is(err, notify.ErrKeyTooLong) {
		// It will not fit on a retry either; the subscription screen shows it.
		log.Error().Str("event", EventKeyUndeliverable).Err(err).Msg("key cannot be sent in a message")
		count("undeliverable")
		return a.store.MarkDelivered(ctx, k.SubscriptionID, k.CreatedAt)
	}
	if err != nil {
		return fmt.Errorf("writing the key message of subscription %d: %w", k.SubscriptionID, err)
	}
	if _, err := outbox.Publish(ctx, a.js, msg); err != nil {
		return fmt.Errorf("delivering the key of subscription %d: %w", k.SubscriptionID, err)
	}
	if err := a.store.MarkDelivered(ctx, k.SubscriptionID, k.CreatedAt); err != nil {
		return err
	}
	log.Info().Str("event", EventKeyDelivered).Str("dedup_id", msg.GetDedupId()).Msg("key handed to the sender")
	count("delivered")
	return nil
}
