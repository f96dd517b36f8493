package bot

import (
	"context"
	"fmt"
	"net/http"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// KindBanned is an update of a banned user: answered with the ban's notice
// once, and otherwise not acted on.
const KindBanned = "banned"

// EventBannedUpdate is an update of a banned user that was not acted on.
const EventBannedUpdate = "BANNED_UPDATE"

// banTexts are what a banned user is told.
type banTexts struct {
	notice   string // takes the support contact
	checkout string // a refused payment's error: Telegram shows it plain
}

var banEN = banTexts{
	notice:   "Your access to this bot is suspended. If you think this is a mistake, write to %s.",
	checkout: "Your access is suspended, so payments are not accepted. Please write to support.",
}

var banRU = banTexts{
	notice:   "Ваш доступ к боту приостановлен. Если это ошибка, напишите %s.",
	checkout: "Ваш доступ приостановлен, поэтому оплата не принимается. Напишите, пожалуйста, в поддержку.",
}

func banTextsIn(lang string) *banTexts { return botui.Pick(lang, &banEN, &banRU) }

// BannedScreen is the one answer a banned user gets.
func BannedScreen(lang, support string) Screen {
	return Screen{Text: fmt.Sprintf(banTextsIn(lang).notice, botui.Escape(support))}
}

// BannedCheckoutRefusal is the error_message of a banned user's
// pre-checkout query.
func BannedCheckoutRefusal(lang string) string { return banTextsIn(lang).checkout }

// UpdateUser is the person whose update the ban gate may stop: the
// sender of a private message that is not a payment, of a button press or
// of a pre-checkout query; nil for any other update.
func UpdateUser(u tele.Update) *tele.User {
	switch {
	case u.Message != nil && u.Message.Payment == nil && u.Message.Chat != nil && u.Message.Chat.Type == tele.ChatPrivate:
		return u.Message.Sender
	case u.Callback != nil:
		return u.Callback.Sender
	case u.PreCheckoutQuery != nil:
		return u.PreCheckoutQuery.Sender
	}
	return nil
}

// banGate stops the update of a banned user before any route: a message or
// a button press gets the ban's notice, once per ban (claimed in the
// database: "banned:<banned_at in µs>", so a second ban is told again), and
// nothing else; a pre-checkout query is refused. A successful payment is
// not stopped: the money was taken, and it is applied as always. An owner
// (ADMIN_IDS) is never stopped, and cannot be banned from a card. gated is
// whether the update was a banned user's (banned since bannedAt).
func (b *Bot) banGate(ctx context.Context, tb *tele.Bot, u tele.Update, bannedAt *time.Time) (gated bool, err error) {
	user := UpdateUser(u)
	if user == nil || bannedAt == nil || b.admins[user.ID] {
		return false, nil // an owner is never locked out
	}
	b.log.Info().Ctx(ctx).Str("event", EventBannedUpdate).Int64("user_id", user.ID).Int("update_id", u.ID).
		Msg("update of a banned user not acted on")
	lang, err := b.language(ctx, user)
	if err != nil {
		return true, err
	}
	c := tb.NewContext(u)
	switch {
	case u.PreCheckoutQuery != nil:
		_, err := c.Bot().Raw("answerPreCheckoutQuery", map[string]any{
			"pre_checkout_query_id": u.PreCheckoutQuery.ID, "ok": false, "error_message": BannedCheckoutRefusal(lang),
		})
		if e, ok := telegram.AsError(err); ok && e.Code == http.StatusBadRequest {
			return true, nil // answered too late: Telegram cancelled the payment
		}
		return true, err
	case u.Callback != nil:
		if err := b.answerCallback(c); err != nil {
			return true, err
		}
	}
	kind := fmt.Sprintf("banned:%d", bannedAt.UnixMicro())
	_, err = b.users.NoticeOnce(ctx, user.ID, kind, func() error { return b.send(ctx, c, BannedScreen(lang, b.support)) })
	return true, err
}
