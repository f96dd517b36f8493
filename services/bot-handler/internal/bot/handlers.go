package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// routes registers the handlers of one update's telebot.
func (b *Bot) routes(tb *tele.Bot, r *run) {
	tb.Handle("/start", r.route(KindStart, b.onStart))
	tb.Handle("/help", r.route(KindHelp, b.onHelp))
	// Anything else a person sends gets a pointer to /help rather than silence.
	other := r.route(KindOther, b.onOther)
	for _, end := range []string{tele.OnText, tele.OnMedia, tele.OnContact, tele.OnLocation, tele.OnVenue, tele.OnDice} {
		tb.Handle(end, other)
	}
}

func (b *Bot) onStart(ctx context.Context, c tele.Context) error {
	s := c.Sender()
	lang, err := b.users.UpsertStartingUser(ctx, store.StartingUser{
		ID:           s.ID,
		ChatID:       c.Chat().ID,
		Username:     s.Username,
		FirstName:    s.FirstName,
		LanguageCode: s.LanguageCode,
		Language:     LanguageFor(s.LanguageCode),
		StartParam:   startParam(c.Message().Payload),
	})
	if err != nil {
		return err
	}
	return b.reply(ctx, c, textsIn(lang).welcomeFor(s.FirstName))
}

func (b *Bot) onHelp(ctx context.Context, c tele.Context) error {
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	return b.reply(ctx, c, textsIn(lang).help)
}

func (b *Bot) onOther(ctx context.Context, c tele.Context) error {
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	return b.reply(ctx, c, textsIn(lang).fallback)
}

// language is the language the user chose, or for a user who never sent
// /start the one their Telegram client uses.
func (b *Bot) language(ctx context.Context, u *tele.User) (string, error) {
	lang, found, err := b.users.UserLanguage(ctx, u.ID)
	if err != nil {
		return "", err
	}
	if !found {
		return LanguageFor(u.LanguageCode), nil
	}
	return lang, nil
}

// reply answers the update's message as a reply to it, so the user sees what
// the answer is about even when answers to quick messages interleave.
func (b *Bot) reply(ctx context.Context, c tele.Context, text string) error {
	err := c.Reply(text, tele.AllowWithoutReply)
	if err == nil {
		return nil
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch apiErr.Code {
		case http.StatusForbidden:
			// In a private chat, 403 means the user blocked the bot or is gone:
			// the answer can never be delivered, so the update is done.
			userID := c.Sender().ID
			if err := b.users.MarkBlocked(ctx, userID); err != nil {
				return err
			}
			b.log.Info().Str("event", EventUserBlocked).Int64("user_id", userID).
				Str("reason", apiErr.Description).Msg("user blocked the bot; answer dropped")
			return nil
		case http.StatusTooManyRequests:
			b.log.Warn().Str("event", EventFloodWait).Int64("chat_id", c.Chat().ID).
				Dur("retry_after", apiErr.RetryAfter).Msg("Telegram flood control; the update will be retried")
		}
	}
	return fmt.Errorf("replying in chat %d: %w", c.Chat().ID, err)
}

// startParam is the deep-link payload of a /start, as Telegram allows it.
func startParam(payload string) string {
	p := []rune(strings.TrimSpace(payload))
	if len(p) > maxStartParam {
		p = p[:maxStartParam]
	}
	return string(p)
}
