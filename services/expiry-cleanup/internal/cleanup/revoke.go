package cleanup

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// revokeExpired revokes the periods due, periodsPerPanelCall × Concurrency
// at a time (at most Concurrency in a panel call). A period that fails does
// not stop the others; the failures are returned together, after all were
// tried, so the iteration's outcome tells on-call that accesses are
// outliving their periods.
func (c *Cleaner) revokeExpired(ctx context.Context, res worker.Result) error {
	subs, err := c.shop.ExpiredUnrevoked(ctx, c.cfg.Grace, c.cfg.BatchSize)
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		failures []error
	)
	sem := make(chan struct{}, periodsPerPanelCall*c.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, sub := range subs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return fmt.Errorf("revoking expired subscriptions: %w", errors.Join(append(failures, context.Cause(ctx))...))
		}
		wg.Go(func() {
			defer func() { <-sem }()
			item, err := c.revoke(ctx, sub)
			mu.Lock()
			defer mu.Unlock()
			res[item]++
			if err != nil {
				failures = append(failures, err)
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d revocations failed, retried next iteration: %w", len(failures), len(subs), errors.Join(failures...))
	}
	return nil
}

// revoke claims one period and revokes it, returning the item it counts as
// and, for a failure, why.
func (c *Cleaner) revoke(ctx context.Context, sub shop.Subscription) (string, error) {
	log := c.log.With().Int64("subscription_id", sub.ID).Int64("user_id", sub.UserID).
		Time("expires_at", sub.ExpiresAt).Ctx(ctx).Logger()
	if sub.Access != nil {
		log = log.With().Str("panel", sub.Access.Panel).Logger()
	}
	now := c.cfg.NowFunc()
	claimed, err := c.store.ClaimRevocation(ctx, sub.ID, sub.ExpiresAt, now, now.Add(-c.cfg.ClaimTTL))
	if err != nil {
		log.Warn().Str("event", EventRevocationFailed).Err(err).Msg("cannot claim the subscription; retrying next iteration")
		return ItemFailed, err
	}
	if !claimed {
		return ItemClaimed, nil // another replica is revoking it, or just did
	}
	err = c.shop.Revoke(ctx, sub.ID, c.fleet)
	switch {
	case errors.Is(err, shop.ErrRenewed):
		log.Info().Str("event", EventRenewedWhileRevoking).
			Msg("paid for while being revoked: stays active, activation makes a new key; no notice")
		return ItemRenewed, nil
	case err != nil:
		c.countPanelError(err)
		rctx, cancel := detached(ctx)
		defer cancel()
		if rerr := c.store.ReleaseRevocation(rctx, sub.ID, sub.ExpiresAt); rerr != nil {
			// The claim goes stale after ClaimTTL; the retry waits that long.
			err = errors.Join(err, rerr)
		}
		log.Warn().Str("event", EventRevocationFailed).Err(err).Msg("revocation failed; nothing marked, retrying next iteration")
		return ItemFailed, err
	}
	ev := log.Info().Str("event", EventAccessRevoked).Str("reason", "expired").
		Dur("overdue", now.Sub(sub.ExpiresAt.Add(c.cfg.Grace)))
	if a := sub.Access; a != nil && a.RevokedAt == nil {
		ev = ev.Str("access_id", a.ExternalID)
	} else {
		ev = ev.Bool("no_access", true) // never activated: only the period was ended
	}
	ev.Msg("access revoked, subscription ended")
	return ItemRevoked, nil
}
