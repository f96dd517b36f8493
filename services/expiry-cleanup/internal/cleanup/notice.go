package cleanup

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/worker"
	"github.com/vpnbot/vpnbot/services/expiry-cleanup/internal/store"
)

// notify claims the notices due and hands each to the sender, Concurrency
// at a time: each waits for the OUTBOX's acknowledgement, and one after the
// other they would hold up the next revocations. A notice that cannot be
// published is released, and so are the ones not published yet (the OUTBOX
// is likely down), so that the next iteration sends them. The published
// ones are recorded so at the end; until then their claims are pending, and
// a replica that dies before recording them leaves them to be taken over
// and published again (see store.ClaimNotices), which their dedup ids make
// one message.
func (c *Cleaner) notify(ctx context.Context, res worker.Result) error {
	now := c.cfg.NowFunc()
	notices, err := c.store.ClaimNotices(ctx, now.Add(-c.cfg.NoticeWindow), now, now.Add(-c.cfg.ClaimTTL), c.cfg.BatchSize)
	if err != nil {
		return err
	}
	var (
		mu        sync.Mutex
		failures  []error
		published []store.Notice
		wg        sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, err)
	}
	// The first failure stops the other publishes.
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	sem := make(chan struct{}, c.cfg.Concurrency)
	for i, n := range notices {
		select {
		case sem <- struct{}{}:
		case <-pctx.Done():
		}
		if pctx.Err() != nil {
			fail(fmt.Errorf("%d expiry notices not sent: %w", len(notices)-i, context.Cause(pctx)))
			rctx, cancel := detached(ctx)
			defer cancel()
			for _, r := range notices[i:] {
				if err := c.store.ReleaseNotice(rctx, r); err != nil {
					fail(err)
				}
			}
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := c.sendNotice(pctx, n); err != nil {
				stop()
				fail(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			res[ItemNotified]++
			published = append(published, n)
		})
	}
	wg.Wait()
	rctx, cancel := detached(ctx)
	defer cancel()
	return errors.Join(append(failures, c.store.MarkNoticesPublished(rctx, published, now))...)
}

// sendNotice publishes one claimed notice, or releases its claim.
func (c *Cleaner) sendNotice(ctx context.Context, n store.Notice) error {
	msg := notify.KeyRevoked(notify.Language(n.Language), n.ChatID, n.SubscriptionID, n.Trial, n.ExpiresAt)
	if _, err := outbox.Publish(ctx, c.js, msg); err != nil {
		err = fmt.Errorf("publishing the expiry notice of subscription %d: %w", n.SubscriptionID, err)
		rctx, cancel := detached(ctx)
		defer cancel()
		return errors.Join(err, c.store.ReleaseNotice(rctx, n))
	}
	c.log.Info().Ctx(ctx).Str("event", EventNoticeSent).Int64("subscription_id", n.SubscriptionID).Int64("user_id", n.UserID).
		Str("dedup_id", msg.GetDedupId()).Msg("expiry notice handed to the sender")
	return nil
}
