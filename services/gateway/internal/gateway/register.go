package gateway

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vpnbot/vpnbot/pkg/retry"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// apiCallTimeout bounds a Bot API call other than a long poll.
const apiCallTimeout = 10 * time.Second

// registerWebhook points Telegram at WebhookURL, retrying until Telegram
// accepts (the gateway serves meanwhile: a webhook set earlier keeps
// working). It returns after success or when ctx is done.
func (g *Gateway) registerWebhook(ctx context.Context) {
	want := telegram.SetWebhookParams{
		URL:            g.cfg.WebhookURL(),
		SecretToken:    g.cfg.WebhookSecret,
		AllowedUpdates: g.cfg.WebhookAllowedUpdates,
		MaxConnections: g.cfg.WebhookMaxConnections,
	}
	delay := retry.Backoff{Min: time.Second, Max: time.Minute}
	for attempt := 1; ; attempt++ {
		err := g.setWebhook(ctx, want)
		if err == nil || ctx.Err() != nil {
			return
		}
		wait := retryDelay(err, &delay)
		g.log.Error().Str("event", EventWebhookRegisterFailed).Err(err).Int("attempt", attempt).
			Str("url", want.URL).Dur("retry_in", wait).Msg("could not register the webhook with Telegram; retrying")
		if !retry.Sleep(ctx, wait) {
			return
		}
	}
}

// setWebhook reads the current webhook (to log what changes and what
// Telegram reports about deliveries), then sets ours. It always calls
// setWebhook, because only that makes a changed secret take effect.
func (g *Gateway) setWebhook(ctx context.Context, want telegram.SetWebhookParams) error {
	ctx, cancel := context.WithTimeout(ctx, apiCallTimeout)
	defer cancel()
	info, err := g.api.GetWebhookInfo(ctx)
	if err != nil {
		return fmt.Errorf("reading the current webhook: %w", err)
	}
	if err := g.api.SetWebhook(ctx, want); err != nil {
		return fmt.Errorf("setting the webhook: %w", err)
	}
	ev := g.log.Info().Str("event", EventWebhookRegistered).Str("url", want.URL).
		Strs("changed", webhookChanges(info, want)).Int("pending_update_count", info.PendingUpdateCount)
	if info.LastErrorMessage != "" {
		ev = ev.Str("last_error_message", info.LastErrorMessage).Time("last_error_date", time.Unix(info.LastErrorDate, 0))
	}
	ev.Msg("webhook registered with Telegram (secret_token set anew)")
	return nil
}

// webhookChanges names the settings setWebhook changes. Telegram omits
// max_connections and allowed_updates when they are at their defaults (40,
// and every kind but a few).
func webhookChanges(have telegram.WebhookInfo, want telegram.SetWebhookParams) []string {
	changed := []string{}
	if have.URL != want.URL {
		changed = append(changed, "url")
	}
	haveMax := have.MaxConnections
	if haveMax == 0 {
		haveMax = 40
	}
	if haveMax != want.MaxConnections {
		changed = append(changed, "max_connections")
	}
	a, b := slices.Sorted(slices.Values(have.AllowedUpdates)), slices.Sorted(slices.Values(want.AllowedUpdates))
	if !slices.Equal(a, b) {
		changed = append(changed, "allowed_updates")
	}
	return changed
}

// retryDelay is the next delay of d, or longer when Telegram asked for it
// (429 retry_after).
func retryDelay(err error, d *retry.Backoff) time.Duration {
	wait := d.Next()
	if tgErr, ok := telegram.AsError(err); ok {
		wait = max(wait, tgErr.RetryAfter)
	}
	return wait
}
