package bot

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/services/bot-handler/internal/store"
)

// The card's "balance" and "message" buttons need what no button can
// carry: an amount, a text. The press asks for it (store.AskInput) and the
// admin's next plain text answers: the bot then asks to confirm, showing
// the amount or the message as the user will get it. The yes carries the
// answering update's id as its nonce, so, as for every card action, a yes
// pressed twice or redelivered is one op key, done once. A message is too
// long for a button's data: its yes finds the text by that update
// (store.InputAnswer).

// inputTTL is how long a question waits for the admin's answer: a text
// sent later is an ordinary text again.
const inputTTL = 15 * time.Minute

// Steps of the card's buttons that ask for an answer.
const (
	stepInput  = "i" // ask for the amount or the text
	stepCancel = "x" // close the question, back to the card
)

// Actions of the questions an admin's text answers: cardBalance and
// cardMessage ask; the yes of the confirmation does cardGrantUSD or
// cardGrantStars (param: the signed amount, cents or stars) or
// cardMessage (the text: the answer's).
const (
	cardBalance    = "bal"
	cardMessage    = "msg"
	cardGrantUSD   = "gu"
	cardGrantStars = "gs"
)

// inputActions are the shop's names of the questions' actions, as
// admin_inputs keeps them.
var inputActions = map[string]string{cardBalance: shop.ActionGrantBalance, cardMessage: shop.ActionMessage}

// answerActions are done by the yes of a confirmation of an answer, never
// asked by a button of their own.
var answerActions = map[string]bool{cardGrantUSD: true, cardGrantStars: true, cardMessage: true}

// CardInputScreen asks an admin for the amount (cardBalance) or the text
// (cardMessage) of an action on u.
func CardInputScreen(lang, act string, u shop.UserInfo) Screen {
	adm := adminTextsIn(lang)
	minutes := int(inputTTL / time.Minute)
	text := fmt.Sprintf(adm.inputGrant, who(u), minutes)
	if act == cardMessage {
		text = fmt.Sprintf(adm.inputMessage, who(u), MaxBroadcastText, minutes)
	}
	return Screen{Text: text, Buttons: [][]Button{{cancelInputButton(adm, u.ID)}}}
}

// CardMessageQuestionScreen asks whether to send text to u: the yes of p
// sends it.
func CardMessageQuestionScreen(lang string, p cardPress, u shop.UserInfo, text string) Screen {
	adm := adminTextsIn(lang)
	return Screen{
		Text:    fmt.Sprintf(adm.askMessage, who(u), botui.Escape(text)),
		Buttons: [][]Button{{data(adm.btnYes, p.data())}, {cancelInputButton(adm, u.ID)}},
	}
}

func cancelInputButton(adm *adminTexts, user int64) Button {
	return data(adm.btnCancel, cardPress{step: stepCancel, target: user}.data())
}

// askInput is a press of the card's balance or message button: the
// admin's next text answers it.
func (b *Bot) askInput(ctx context.Context, c tele.Context, lang string, p cardPress, u shop.UserInfo) error {
	if err := b.users.AskInput(ctx, c.Sender().ID, inputActions[p.act], u.ID); err != nil {
		return err
	}
	return b.show(ctx, c, CardInputScreen(lang, p.act, u))
}

// cancelInput is the question's cancel: it is closed, and the card shown.
func (b *Bot) cancelInput(ctx context.Context, c tele.Context, lang string, v CardView) error {
	if err := b.users.CancelInput(ctx, c.Sender().ID); err != nil {
		return err
	}
	return b.show(ctx, c, UserCardScreen(lang, v))
}

// answers has an admin's text answer their open question, if they have
// one; any other text, a command among them, goes on to next. The one
// read of admin_inputs by its key is all a customer's text pays.
func (b *Bot) answers(next func(ctx context.Context, c tele.Context) error) func(ctx context.Context, c tele.Context) error {
	return func(ctx context.Context, c tele.Context) error {
		if strings.HasPrefix(c.Text(), "/") {
			return next(ctx, c)
		}
		in, found, err := b.users.OpenInput(ctx, c.Sender().ID, int64(c.Update().ID), inputTTL)
		if err != nil || !found {
			return orNext(ctx, c, err, next)
		}
		// The role is read again now: one revoked since the question has
		// nothing to answer.
		role, err := b.roleOf(ctx, c.Sender().ID)
		if err != nil || !allowed(role, shop.RoleAdmin) {
			return orNext(ctx, c, err, next)
		}
		return b.answer(ctx, c, in)
	}
}

// orNext returns err, or with none goes on to next.
func orNext(ctx context.Context, c tele.Context, err error, next func(ctx context.Context, c tele.Context) error) error {
	if err != nil {
		return err
	}
	return next(ctx, c)
}

// answer reads an admin's text as the answer of their open question in,
// and asks them to confirm it. A text that cannot be the answer (not an
// amount, too long) says so and leaves the question open.
func (b *Bot) answer(ctx context.Context, c tele.Context, in store.Input) error {
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	adm := adminTextsIn(lang)
	u, err := b.shop.UserInfo(ctx, in.TargetID)
	if err != nil {
		return err
	}
	text := c.Text()
	p := cardPress{step: stepYes, target: u.ID, nonce: int64(c.Update().ID)}
	switch in.Action {
	case shop.ActionGrantBalance:
		currency, amount, ok := parseGrant(text)
		if !ok {
			return b.reply(ctx, c, Screen{Text: fmt.Sprintf(adm.inputBadAmount, botui.Escape(text)),
				Buttons: [][]Button{{cancelInputButton(adm, u.ID)}}})
		}
		p.act, p.param = cardGrantUSD, amount
		if currency == shop.CurrencyXTR {
			p.act = cardGrantStars
		}
	default:
		if n := utf8.RuneCountInString(text); n > MaxBroadcastText {
			return b.reply(ctx, c, Screen{Text: fmt.Sprintf(adm.msgTooLong, n, MaxBroadcastText),
				Buttons: [][]Button{{cancelInputButton(adm, u.ID)}}})
		}
		p.act = cardMessage
	}
	answered, err := b.users.AnswerInput(ctx, c.Sender().ID, p.nonce, in, text)
	if err != nil {
		return err
	}
	if !answered {
		return b.reply(ctx, c, Screen{Text: fmt.Sprintf(adm.inputGone, u.ID)})
	}
	if p.act == cardMessage {
		return b.reply(ctx, c, CardMessageQuestionScreen(lang, p, u, text))
	}
	return b.reply(ctx, c, CardQuestionScreen(lang, p, u, nil))
}

// doAnswerAction does the yes of a confirmed answer, under act.
func (b *Bot) doAnswerAction(ctx context.Context, lang string, act shop.Act, p cardPress, u shop.UserInfo) (string, error) {
	switch p.act {
	case cardGrantUSD:
		return b.grantBalance(ctx, lang, act, u, shop.CurrencyUSD, p.param)
	case cardGrantStars:
		return b.grantBalance(ctx, lang, act, u, shop.CurrencyXTR, p.param)
	}
	text, found, err := b.users.InputAnswer(ctx, act.AdminID, p.nonce, store.Input{Action: shop.ActionMessage, TargetID: u.ID})
	if err != nil {
		return "", err
	}
	if !found {
		return fmt.Sprintf(adminTextsIn(lang).inputGone, u.ID), nil
	}
	return b.sendAdminMessage(ctx, lang, act, u, text)
}
