package webapp

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/vpnbot/vpnbot/pkg/retry"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// EventGetMeFailed: Telegram did not say who the bot is at start; the app
// asks again, live but not ready.
const EventGetMeFailed = "TELEGRAM_GETME_FAILED"

const (
	getMeTimeout    = 10 * time.Second
	getMeFirstDelay = 500 * time.Millisecond
	getMeMaxDelay   = 30 * time.Second
)

// BotUsername asks Telegram for the bot's username until it answers or ctx
// ends.
func BotUsername(ctx context.Context, client *telegram.Client, log zerolog.Logger) (string, error) {
	b := retry.Backoff{Min: getMeFirstDelay, Max: getMeMaxDelay}
	for {
		actx, cancel := context.WithTimeout(ctx, getMeTimeout)
		me, err := client.GetMe(actx)
		cancel()
		if err == nil {
			return me.Username, nil
		}
		log.Warn().Str("event", EventGetMeFailed).Err(err).Msg("asking Telegram who the bot is; trying again")
		if !retry.Sleep(ctx, b.Next()) {
			return "", ctx.Err()
		}
	}
}
