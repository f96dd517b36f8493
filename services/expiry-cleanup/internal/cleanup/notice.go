package cleanup

import (
	"context"
	"errors"
	"fmt"

	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/worker"
)

// notify claims the notices due and hands each to the sender. A notice that
// cannot be published is released with all the claimed ones after it, so
// the next iteration sends them; one published but not recorded cannot
// happen (the claim came first), and one published twice is dropped by
// its dedup id.
func (c *Cleaner) notify(ctx context.Context, res worker.Result) error {
	now := c.cfg.NowFunc()
	notices, err := c.store.ClaimNotices(ctx, now.Add(-c.cfg.NoticeWindow), now, c.cfg.BatchSize)
	if err != nil {
		return err
	}
	for i, n := range notices {
		msg := notify.SubscriptionEnded(notify.Language(n.Language), n.ChatID, n.SubscriptionID, n.ExpiresAt)
		if _, err := outbox.Publish(ctx, c.js, msg); err != nil {
			err = fmt.Errorf("publishing the expiry notice of subscription %d: %w", n.SubscriptionID, err)
			rctx, cancel := detached(ctx)
			defer cancel()
			for _, r := range notices[i:] {
				if rerr := c.store.ReleaseNotice(rctx, r); rerr != nil {
					err = errors.Join(err, rerr)
				}
			}
			return err
		}
		c.log.Info().Str("event", EventNoticeSent).Int64("subscription_id", n.SubscriptionID).Int64("user_id", n.UserID).
			Str("dedup_id", msg.GetDedupId()).Msg("expiry notice handed to the sender")
		res[ItemNotified]++
	}
	return nil
}
