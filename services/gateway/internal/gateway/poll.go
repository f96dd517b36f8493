package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/vpnbot/vpnbot/pkg/retry"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

const (
	// pollSeconds is the getUpdates long-poll time; the call may take a
	// little longer than that, hence pollSlack.
	pollSeconds = 25
	pollSlack   = 10 * time.Second
)

// poll removes the webhook (keeping the updates Telegram holds), then
// long-polls getUpdates and publishes every update in order until ctx is
// done. An update is confirmed to Telegram (the next offset) only after the
// stream stored it; until then it is retried, never skipped.
func (g *Gateway) poll(ctx context.Context) {
	if !g.deleteWebhook(ctx) {
		return
	}
	var offset, confirmed int64
	defer func() { g.confirmOffset(ctx, offset, confirmed) }()
	delay := retry.Backoff{Min: time.Second, Max: 30 * time.Second}
	for {
		g.pollBeat.Beat()
		pctx, cancel := context.WithTimeout(ctx, pollSeconds*time.Second+pollSlack)
		updates, err := g.api.GetUpdates(pctx, telegram.GetUpdatesParams{
			Offset: offset, Timeout: pollSeconds, AllowedUpdates: g.cfg.WebhookAllowedUpdates,
		})
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait := retryDelay(err, &delay)
			g.logPollError(err, wait)
			if !retry.Sleep(ctx, wait) {
				return
			}
			continue
		}
		confirmed = offset
		for _, raw := range updates {
			_, meta, err := telegram.DecodeUpdate(raw)
			if err != nil {
				// Not stored, since the bot-handler would refuse it too. It is
				// not confirmed on its own (its update_id may be what is
				// wrong with it): the next valid update's offset moves past it.
				g.log.Error().Str("event", EventUpdateMalformed).Err(err).Int("bytes", len(raw)).
					Msg("getUpdates returned an invalid update; skipped")
				continue
			}
			g.traffic.stamp()
			if !g.publishPolled(ctx, raw, meta) {
				return
			}
			offset = max(offset, meta.UpdateID+1)
		}
		if len(updates) > 0 && offset == confirmed {
			// Only invalid updates: Telegram would answer the same at once,
			// so slow down rather than spin.
			if !retry.Sleep(ctx, delay.Next()) {
				return
			}
			continue
		}
		delay.Reset()
	}
}

// deleteWebhook retries deleteWebhook until it succeeds; false when ctx
// ended first.
func (g *Gateway) deleteWebhook(ctx context.Context) bool {
	delay := retry.Backoff{Min: time.Second, Max: 30 * time.Second}
	for {
		dctx, cancel := context.WithTimeout(ctx, apiCallTimeout)
		err := g.api.DeleteWebhook(dctx, false)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			g.log.Info().Str("event", EventWebhookDeleted).
				Msg("webhook removed (pending updates kept); long polling getUpdates — run a single replica in poll mode")
			return true
		}
		wait := retryDelay(err, &delay)
		g.log.Warn().Str("event", EventPollFailed).Err(err).Dur("retry_in", wait).Msg("could not delete the webhook; retrying")
		if !retry.Sleep(ctx, wait) {
			return false
		}
	}
}

// publishPolled stores one polled update, retrying with a growing delay
// until it is stored; false when ctx ended first.
func (g *Gateway) publishPolled(ctx context.Context, raw json.RawMessage, meta telegram.UpdateMeta) bool {
	delay := retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for attempt := 1; ; attempt++ {
		g.pollBeat.Beat()
		subject, duplicate, err := g.pub.publish(ctx, raw, meta, ModePoll)
		if err == nil {
			g.log.Debug().Str("event", EventUpdatePublished).Int64("update_id", meta.UpdateID).
				Str("subject", subject).Bool("duplicate", duplicate).Msg("update stored")
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := delay.Next()
		g.log.Error().Str("event", EventPublishFailed).Err(err).Int64("update_id", meta.UpdateID).
			Str("subject", subject).Int("attempt", attempt).Dur("retry_in", wait).
			Msg("could not store the polled update; retrying it (it stays unconfirmed at Telegram)")
		if !retry.Sleep(ctx, wait) {
			return false
		}
	}
}

// confirmOffset tells Telegram, on the way out, about updates stored since
// the last getUpdates call, so the next start does not fetch them again
// (it would be harmless: the stream drops them as duplicates).
func (g *Gateway) confirmOffset(ctx context.Context, offset, confirmed int64) {
	if offset <= confirmed {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if _, err := g.api.GetUpdates(cctx, telegram.GetUpdatesParams{Offset: offset, Limit: 1, Timeout: 0}); err != nil {
		g.log.Warn().Err(err).Int64("offset", offset).Msg("could not confirm the last stored updates; they will be fetched again and dropped as duplicates")
	}
}

func (g *Gateway) logPollError(err error, wait time.Duration) {
	if tgErr, ok := telegram.AsError(err); ok && tgErr.Code == http.StatusConflict {
		g.log.Error().Str("event", EventPollConflict).Err(err).Dur("retry_in", wait).
			Msg("Telegram refused getUpdates: another gateway polls this bot or a webhook was set; poll mode must run as one replica")
		return
	}
	g.log.Warn().Str("event", EventPollFailed).Err(err).Dur("retry_in", wait).Msg("getUpdates failed; retrying")
}
