package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"
	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/outbox"
	"github.com/vpnbot/vpnbot/pkg/shop"
	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"
)

// Commands that act on one user, for admins: /extend, /grant and /msg.
// Each is its own confirmation, keyed by its update: redelivered, it is
// the one action. Each answers with the result and the user's card.

// commandArgs splits a command's message "/cmd[@bot] <user> <rest>" into
// the user as written and the rest, as typed (line breaks kept: telebot's
// Payload ends at the first).
func commandArgs(message string) (user, rest string) {
	words := strings.TrimLeftFunc(message, unicode.IsSpace)
	end := strings.IndexFunc(words, unicode.IsSpace)
	if end < 0 {
		return "", ""
	}
	args := strings.TrimLeftFunc(words[end:], unicode.IsSpace)
	end = strings.IndexFunc(args, unicode.IsSpace)
	if end < 0 {
		return args, ""
	}
	return args[:end], strings.TrimSpace(args[end:])
}

// adminCommand starts a command that acts on a user: it checks the role,
// and resolves the user. ok is false when the command was answered already
// (refused, or no such user).
func (b *Bot) adminCommand(ctx context.Context, c tele.Context, usage func(*adminTexts) string) (cmd userCommand, ok bool, err error) {
	if refused, err := b.refused(ctx, c, shop.RoleAdmin); refused || err != nil {
		return userCommand{}, false, err
	}
	cmd.lang, err = b.language(ctx, c.Sender())
	if err != nil {
		return userCommand{}, false, err
	}
	who, rest := commandArgs(c.Text())
	if who == "" || rest == "" {
		return userCommand{}, false, b.reply(ctx, c, Screen{Text: usage(adminTextsIn(cmd.lang))})
	}
	userID, found, err := b.findUser(ctx, who)
	if err != nil {
		return userCommand{}, false, err
	}
	if !found {
		return userCommand{}, false, b.reply(ctx, c, CardNoUserScreen(cmd.lang, who))
	}
	cmd.rest = rest
	cmd.user, err = b.shop.UserInfo(ctx, userID)
	if err != nil {
		return userCommand{}, false, err
	}
	return cmd, true, nil
}

// userCommand is a command on a user, read: the admin's language, the
// user, and the rest of the command.
type userCommand struct {
	lang string
	user shop.UserInfo
	rest string
}

// replyWithCard answers a command with its result above the user's card.
func (b *Bot) replyWithCard(ctx context.Context, c tele.Context, cmd userCommand, result string) error {
	card, err := b.card(ctx, cmd.lang, cmd.user.ID, shop.RoleAdmin)
	if err != nil {
		return err
	}
	return b.reply(ctx, c, WithResult(result, card))
}

// onExtend is /extend <user> <days>: days added to the user's period, or
// taken (negative).
func (b *Bot) onExtend(ctx context.Context, c tele.Context) error {
	cmd, ok, err := b.adminCommand(ctx, c, func(a *adminTexts) string { return a.extendUsage })
	if !ok || err != nil {
		return err
	}
	days, err := strconv.Atoi(cmd.rest)
	if err != nil || days == 0 || days > maxAdminDays || days < -maxAdminDays {
		return b.reply(ctx, c, Screen{Text: adminTextsIn(cmd.lang).extendUsage})
	}
	action := shop.ActionExtend
	if days < 0 {
		action = shop.ActionShorten
	}
	result, err := b.extend(ctx, cmd.lang, b.commandAct(c, action, cmd.user.ID, int64(days)), cmd.user, days)
	if err != nil {
		return err
	}
	return b.replyWithCard(ctx, c, cmd, result)
}

// parseGrant reads the amount of /grant: dollars ("5", "-2.50", "$5"), or
// stars with the word stars ("100 stars"). It is never zero.
func parseGrant(args string) (currency string, amount int64, ok bool) {
	words := strings.Fields(args)
	if len(words) == 0 || len(words) > 2 {
		return "", 0, false
	}
	number, negative := strings.CutPrefix(words[0], "-")
	switch {
	case len(words) == 2 && strings.EqualFold(words[1], "stars"):
		n, err := strconv.ParseInt(number, 10, 64)
		if err != nil || n <= 0 {
			return "", 0, false
		}
		currency, amount = shop.CurrencyXTR, n
	case len(words) == 1:
		cents, err := positiveCents(number)
		if err != nil {
			return "", 0, false
		}
		currency, amount = shop.CurrencyUSD, cents
	default:
		return "", 0, false
	}
	if negative {
		amount = -amount
	}
	return currency, amount, true
}

// onGrant is /grant <user> <amount> [stars]: balance given, or taken
// (negative; never below nothing).
func (b *Bot) onGrant(ctx context.Context, c tele.Context) error {
	cmd, ok, err := b.adminCommand(ctx, c, func(a *adminTexts) string { return a.grantUsage })
	if !ok || err != nil {
		return err
	}
	adm := adminTextsIn(cmd.lang)
	currency, amount, ok := parseGrant(cmd.rest)
	if !ok {
		return b.reply(ctx, c, Screen{Text: adm.grantUsage})
	}
	act := b.commandAct(c, shop.ActionGrantBalance, cmd.user.ID, amount)
	result, err := b.grantBalance(ctx, cmd.lang, act, cmd.user, currency, amount)
	if err != nil {
		return err
	}
	return b.replyWithCard(ctx, c, cmd, result)
}

// grantBalance gives u amount of currency's balance, or takes it
// (negative; never below nothing), under act, and returns what the admin
// is told.
func (b *Bot) grantBalance(ctx context.Context, lang string, act shop.Act, u shop.UserInfo, currency string, amount int64) (string, error) {
	adm := adminTextsIn(lang)
	res, err := b.shop.AdminGrantBalance(ctx, act, u.ID, currency, amount)
	if errors.Is(err, shop.ErrInsufficientBalance) {
		return fmt.Sprintf(adm.overdraw, who(u)), nil
	}
	if err != nil {
		return "", err
	}
	b.logAction(ctx, act, shop.ActionGrantBalance, u.ID, res.Applied)
	balance, err := b.shop.Balance(ctx, u.ID, currency)
	if err != nil {
		return "", err
	}
	granted := signed(amount) + formatMoney(currency, abs(amount))
	result := fmt.Sprintf(adm.granted, who(u), granted, formatMoney(currency, balance))
	return withAgain(adm, result, res.Applied), nil
}

// onMsg is /msg <user> <text>: the text sent to the user as the bot, once
// (its dedup id is the action's op key), and audited.
func (b *Bot) onMsg(ctx context.Context, c tele.Context) error {
	cmd, ok, err := b.adminCommand(ctx, c, func(a *adminTexts) string { return a.msgUsage })
	if !ok || err != nil {
		return err
	}
	adm := adminTextsIn(cmd.lang)
	if n := utf8.RuneCountInString(cmd.rest); n > MaxBroadcastText {
		return b.reply(ctx, c, Screen{Text: fmt.Sprintf(adm.msgTooLong, n, MaxBroadcastText)})
	}
	result, err := b.sendAdminMessage(ctx, cmd.lang, b.commandAct(c, shop.ActionMessage, cmd.user.ID, 0), cmd.user, cmd.rest)
	if err != nil {
		return err
	}
	return b.replyWithCard(ctx, c, cmd, result)
}

// sendAdminMessage sends u text as the bot, once (its dedup id is act's op
// key), audited, and returns what the admin is told.
func (b *Bot) sendAdminMessage(ctx context.Context, lang string, act shop.Act, u shop.UserInfo, text string) (string, error) {
	res, err := b.shop.AdminMessage(ctx, act, u.ID, text)
	if err != nil {
		return "", err
	}
	b.logAction(ctx, act, shop.ActionMessage, u.ID, res.Applied)
	_, _, err = b.outbox.PublishBatch(ctx, []*vpnbotv1.SendMessage{{
		DedupId:   act.OpKey,
		ChatId:    u.ID,
		Text:      text,
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		CreatedAt: timestamppb.New(res.Audit.CreatedAt),
	}})
	if errors.Is(err, outbox.ErrInvalid) {
		return "", errors.Join(ErrRejected, err)
	}
	if err != nil {
		return "", fmt.Errorf("queueing an admin's message to user %d: %w", u.ID, err)
	}
	adm := adminTextsIn(lang)
	return withAgain(adm, fmt.Sprintf(adm.msgQueued, who(u)), res.Applied), nil
}
