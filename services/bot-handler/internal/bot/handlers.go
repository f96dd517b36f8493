package bot

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// routes registers the handlers of one update's telebot.
func (b *Bot) routes(tb *tele.Bot, r *run) {
	tb.Handle("/start", r.route(KindStart, b.onStart))
	tb.Handle("/help", r.route(KindHelp, b.onHelp))
	tb.Handle("/language", r.route(KindLanguage, b.onLanguage))
	tb.Handle("/stats", r.route(KindAdmin, b.onStats))
	tb.Handle("/user", r.route(KindAdmin, b.onUser))
	tb.Handle("/broadcast", r.route(KindAdmin, b.onBroadcast))
	tb.Handle("/broadcast_status", r.route(KindAdmin, b.onBroadcastStatus))
	tb.Handle("/broadcast_cancel", r.route(KindAdmin, b.onBroadcastCancel))
	// A photo is media to anyone but an admin broadcasting it.
	tb.Handle(tele.OnPhoto, r.route(KindOther, b.onPhoto))
	tb.Handle("/refund", r.route(KindAdmin, b.onRefund))
	tb.Handle("/paysupport", r.route(KindHelp, b.onPaySupport))
	tb.Handle("/topup", r.route(KindTopUp, b.gated(b.onTopUp)))
	tb.Handle("/promo", r.route(KindAdmin, b.onPromo))
	tb.Handle("/audit", r.route(KindAdmin, b.onAudit))
	tb.Handle("/role", r.route(KindAdmin, b.onRole))
	tb.Handle("/extend", r.route(KindAdmin, b.onExtend))
	tb.Handle("/grant", r.route(KindAdmin, b.onGrant))
	tb.Handle("/msg", r.route(KindAdmin, b.onMsg))
	tb.Handle(tele.OnCallback, r.route(KindCallback, b.onCallback))
	tb.Handle(tele.OnPayment, r.route(KindPayment, b.onPayment))
	// A pre-checkout query comes from a user, not a chat.
	tb.Handle(tele.OnCheckout, r.routeUser(KindCheckout, b.onCheckout))
	// Anything else a person sends gets a pointer to /help rather than
	// silence, but a text that is a promo code.
	// An admin's text may answer the user card's question (cardinput.go).
	tb.Handle(tele.OnText, r.route(KindOther, b.answers(b.gated(b.onText))))
	other := r.route(KindOther, b.gated(b.onOther))
	for _, end := range []string{tele.OnMedia, tele.OnContact, tele.OnLocation, tele.OnVenue, tele.OnDice} {
		tb.Handle(end, other)
	}
}

func (b *Bot) onStart(ctx context.Context, c tele.Context) error {
	s := c.Sender()
	param := startParam(c.Message().Payload)
	lang, err := b.users.UpsertStartingUser(ctx, store.StartingUser{
		ID:           s.ID,
		ChatID:       c.Chat().ID,
		Username:     s.Username,
		FirstName:    s.FirstName,
		LanguageCode: s.LanguageCode,
		Language:     botui.Language(s.LanguageCode),
		StartParam:   param,
	})
	if err != nil {
		return err
	}
	if err := b.recordReferral(ctx, s.ID, param); err != nil {
		return err
	}
	if err := b.reply(ctx, c, WelcomeScreen(lang, s.FirstName, b.appURL)); err != nil {
		return err
	}
	return b.startPromo(ctx, c, lang)
}

func (b *Bot) onHelp(ctx context.Context, c tele.Context) error {
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	return b.reply(ctx, c, HelpScreen(lang, b.support))
}

func (b *Bot) onLanguage(ctx context.Context, c tele.Context) error {
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	return b.reply(ctx, c, LanguageScreen(lang))
}

func (b *Bot) onOther(ctx context.Context, c tele.Context) error {
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	return b.reply(ctx, c, FallbackScreen(lang))
}

// onStats is /stats, for support and up; to anyone else it is an unknown
// command.
func (b *Bot) onStats(ctx context.Context, c tele.Context) error {
	if refused, err := b.refused(ctx, c, shop.RoleSupport); refused || err != nil {
		return err
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	st, err := b.shop.Stats(ctx)
	if err != nil {
		return err
	}
	return b.reply(ctx, c, StatsScreen(lang, st))
}

// language is the language the user chose, or for a user who never sent
// /start the one their Telegram client uses.
func (b *Bot) language(ctx context.Context, u *tele.User) (string, error) {
	lang, found, err := b.users.UserLanguage(ctx, u.ID)
	if err != nil {
		return "", err
	}
	if !found {
		return botui.Language(u.LanguageCode), nil
	}
	return lang, nil
}

// options are the send options of a screen.
func options(s Screen, more ...any) []any {
	opts := append([]any{tele.ModeHTML, tele.NoPreview}, more...)
	if len(s.Buttons) > 0 {
		rows := make([][]tele.InlineButton, 0, len(s.Buttons))
		for _, row := range s.Buttons {
			r := make([]tele.InlineButton, 0, len(row))
			for _, btn := range row {
				ib := tele.InlineButton{Text: btn.Text, Data: btn.Data, URL: btn.URL}
				if btn.WebApp != "" {
					ib.WebApp = &tele.WebApp{URL: btn.WebApp}
				}
				r = append(r, ib)
			}
			rows = append(rows, r)
		}
		opts = append(opts, &tele.ReplyMarkup{InlineKeyboard: rows})
	}
	return opts
}

// reply answers the update's message as a reply to it, so the user sees what
// the answer is about even when answers to quick messages interleave.
func (b *Bot) reply(ctx context.Context, c tele.Context, s Screen) error {
	return b.delivered(ctx, c, c.Reply(s.Text, options(s, tele.AllowWithoutReply)...))
}

// send sends a screen as a new message.
func (b *Bot) send(ctx context.Context, c tele.Context, s Screen) error {
	return b.delivered(ctx, c, c.Send(s.Text, options(s)...))
}

// show puts a screen in place of the message whose button was pressed, so
// navigating does not pile up messages. A notice's button (a worker's
// message: a payment's receipt, a key) gets the screen as a new message, so
// the notice stays in the chat; so does a message that cannot be edited (too
// old, deleted).
func (b *Bot) show(ctx context.Context, c tele.Context, s Screen) error {
	cb := c.Callback()
	if cb == nil || cb.Message == nil {
		return b.send(ctx, c, s)
	}
	if _, _, notice := botui.ParseCallback(cb.Data); notice {
		return b.send(ctx, c, s)
	}
	err := c.Edit(s.Text, options(s)...)
	if err == nil {
		return nil
	}
	if e, ok := telegram.AsError(err); ok && e.Code == http.StatusBadRequest {
		if strings.Contains(e.Description, "message is not modified") {
			return nil // pressed twice: the screen is already there
		}
		return b.send(ctx, c, s)
	}
	return b.delivered(ctx, c, err)
}

// delivered settles the outcome of a message to the user: a user who blocked
// the bot is recorded and the update is done; flood control is logged and
// the update retried.
func (b *Bot) delivered(ctx context.Context, c tele.Context, err error) error {
	if err == nil {
		return nil
	}
	e, ok := telegram.AsError(err)
	switch {
	case ok && e.Blocked():
		// In a private chat, 403 means the user blocked the bot or is gone:
		// the answer can never be delivered, so the update is done.
		userID := c.Sender().ID
		if err := b.users.MarkBlocked(ctx, userID); err != nil {
			return err
		}
		b.log.Info().Ctx(ctx).Str("event", EventUserBlocked).Int64("user_id", userID).
			Str("reason", e.Description).Msg("user blocked the bot; answer dropped")
		return nil
	case ok && e.RetryAfter > 0:
		b.log.Warn().Ctx(ctx).Str("event", EventFloodWait).Int64("chat_id", c.Chat().ID).
			Dur("retry_after", e.RetryAfter).Msg("Telegram flood control; the update will be retried")
	}
	return fmt.Errorf("answering in chat %d: %w", c.Chat().ID, err)
}

// startParam is the deep-link payload of a /start, as Telegram allows it.
func startParam(payload string) string {
	p := []rune(strings.TrimSpace(payload))
	if len(p) > maxStartParam {
		p = p[:maxStartParam]
	}
	return string(p)
}
