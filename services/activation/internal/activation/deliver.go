package activation

import (
	"context"
	"errors"
	"fmt"

	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// deliver publishes the keys not yet delivered to the OUTBOX and records
// each once the stream has it. Publishing first and recording second means a
// crash in between publishes the key again, with the same dedup id, which
// the OUTBOX and the sender drop: a key is never lost, nor sent twice.
func (a *Activator) deliver(ctx context.Context, res worker.Result) error {
	keys, err := a.store.Undelivered(ctx, a.cfg.NowFunc(), a.cfg.BatchSize)
	if err != nil {
		return err
	}
	for _, k := range keys {
		log := a.log.With().Int64("subscription_id", k.SubscriptionID).Int64("user_id", k.UserID).Logger()
		msg, err := notify.KeyReady(notify.Language(k.Language), k.ChatID, k.SubscriptionID, k.Panel, k.URL, k.ExpiresAt)
		if errors.Is(err, notify.ErrKeyTooLong) {
			// It will not fit on a retry either; the subscription screen shows it.
			log.Error().Str("event", EventKeyUndeliverable).Err(err).Msg("key cannot be sent in a message")
			res["undeliverable"]++
			if err := a.store.MarkDelivered(ctx, k.SubscriptionID, k.CreatedAt); err != nil {
				return err
			}
			continue
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
		res["delivered"]++
	}
	return nil
}
