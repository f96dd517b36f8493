package gateway

import (
	"context"

	"github.com/vpnbot/vpnbot/pkg/obs"
	"github.com/vpnbot/vpnbot/pkg/retry"
)

// watchGrace logs WATCHDOG_GRACE_END once if no update (in webhook mode: no
// request at all, even a rejected one) arrived within WATCHDOG_GRACE of the
// start, which usually means Telegram does not know where to reach us.
func (g *Gateway) watchGrace(ctx context.Context) {
	if g.cfg.WatchdogGrace <= 0 {
		return
	}
	if !retry.Sleep(ctx, g.cfg.WatchdogGrace) {
		return
	}
	if g.traffic.seen() {
		g.log.Debug().Dur("grace", g.cfg.WatchdogGrace).Msg("watchdog grace period over; updates are arriving")
		return
	}
	hint := "no webhook request came in the grace period: check WEBHOOK_PUBLIC_URL, the proxy in front of HTTP_ADDR " +
		"and Telegram's getWebhookInfo (url, last_error_message)"
	if g.cfg.Mode == ModePoll {
		hint = "no update came from getUpdates in the grace period: check TELEGRAM_API_URL and the bot token, " +
			"or the bot has no users talking to it yet"
	}
	g.log.Warn().Str("event", obs.EventWatchdogGraceEnd).Dur("grace", g.cfg.WatchdogGrace).
		Str("mode", g.cfg.Mode).Str("webhook_url", g.cfg.WebhookURL()).Msg(hint)
}
