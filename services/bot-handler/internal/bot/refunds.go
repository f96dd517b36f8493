package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	tele "gopkg.in/telebot.v3"

	vpnbotv1 "github.com/vpnbot/vpnbot/proto/vpnbot/v1"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// Event names of refunds' log lines.
const (
	// EventRefunded is a payment given back: its ledger reversal and, for
	// Stars, Telegram's refund.
	EventRefunded = "PAYMENT_REFUNDED"
	// EventAutoRefunded is a Stars payment that could not be applied (a
	// second charge of a paid order, a checkout that no longer matches),
	// given back without a human.
	EventAutoRefunded = "PAYMENT_AUTO_REFUNDED"
)

// refundTexts are what refunds and /paysupport say to users.
type refundTexts struct {
	paySupport   string // takes the support contact
	refunded     string // takes the amount
	refundedDays string // takes the amount and the time taken back
	autoRefunded string // takes the amount
}

var refundsEN = refundTexts{
	paySupport: "<b>Payment support</b>\n\n" +
		"Every payment is applied automatically within seconds. If a payment was charged but nothing arrived, " +
		"or you were charged twice, write to %s with the date and amount: a payment that bought nothing is refunded.\n\n" +
		"Telegram Stars payments can be refunded to your Stars balance; the days or balance they bought are then taken back.",
	refunded:     "Your payment of %s was refunded.",
	refundedDays: "Your payment of %s was refunded, and the %s it added to your subscription were taken back.",
	autoRefunded: "Your payment of %s could not be applied to an order (it was paid already, or the order changed), " +
		"so it was refunded to you automatically. Nothing else is needed.",
}

var refundsRU = refundTexts{
	paySupport: "<b>Поддержка по оплате</b>\n\n" +
		"Каждая оплата зачисляется автоматически за несколько секунд. Если деньги списаны, а ничего не пришло, " +
		"или списаны дважды, напишите %s, указав дату и сумму: оплата, за которую ничего не получено, возвращается.\n\n" +
		"Оплату в Telegram Stars можно вернуть на ваш баланс звёзд; купленные ею дни или баланс при этом списываются.",
	refunded:     "Ваша оплата %s возвращена.",
	refundedDays: "Ваша оплата %s возвращена, а добавленные ею к подписке %s списаны.",
	autoRefunded: "Вашу оплату %s не удалось зачесть в заказ (он уже оплачен или изменился), " +
		"поэтому она автоматически возвращена вам. Больше ничего делать не нужно.",
}

func refundTextsIn(lang string) *refundTexts { return botui.Pick(lang, &refundsEN, &refundsRU) }

// PaySupportScreen is /paysupport, which Telegram requires of bots that
// sell digital goods for Stars.
func PaySupportScreen(lang, support string) Screen {
	return Screen{Text: fmt.Sprintf(refundTextsIn(lang).paySupport, botui.Escape(support)),
		Buttons: [][]Button{menuButton(textsIn(lang))}}
}

// RefundNotice is what a user is told of an admin's refund r.
func RefundNotice(lang string, r shop.Entry) string {
	t := refundTextsIn(lang)
	amount := formatMoney(r.Currency, -r.Money)
	if r.Duration < 0 {
		return fmt.Sprintf(t.refundedDays, amount, textsIn(lang).Duration((-r.Duration).Round(time.Hour)))
	}
	return fmt.Sprintf(t.refunded, amount)
}

// formatMoney writes an amount in minor units of currency as users read it.
func formatMoney(currency string, amount int64) string {
	if currency == shop.CurrencyXTR {
		return strconv.FormatInt(amount, 10) + " ⭐"
	}
	return "$" + shop.FormatCents(amount)
}

func (b *Bot) onPaySupport(ctx context.Context, c tele.Context) error {
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	return b.reply(ctx, c, PaySupportScreen(lang, b.support))
}

// onRefund is an admin's /refund <invoice id>; to anyone else it is an
// unknown command. It is its own confirmation: the refund is keyed by the
// update (refundInvoice).
func (b *Bot) onRefund(ctx context.Context, c tele.Context) error {
	if refused, err := b.refused(ctx, c, shop.RoleAdmin); refused || err != nil {
		return err
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	adm := adminTextsIn(lang)
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(c.Message().Payload), "#"), 10, 64)
	if err != nil || id <= 0 {
		return b.reply(ctx, c, Screen{Text: adm.refundUsage})
	}
	inv, err := b.shop.Invoice(ctx, id)
	if errors.Is(err, shop.ErrUnknownInvoice) {
		return b.reply(ctx, c, Screen{Text: fmt.Sprintf(adm.noInvoice, id)})
	}
	if err != nil {
		return err
	}
	result, err := b.refundInvoice(ctx, c, lang, b.commandAct(c, shop.ActionRefund, inv.UserID, inv.ID), inv)
	if err != nil {
		return err
	}
	return b.reply(ctx, c, Screen{Text: result})
}

// refundInvoice gives back the payment of inv under act and returns what
// the admin is told. The ledger goes first (shop.AdminRefund: the reversal
// and its audit row, once per invoice however often it is asked), so that
// a balance spent since refuses the refund before any money goes back.
// Stars then go back through Telegram; should Telegram fail, asking again
// finds the reversal made and asks Telegram again (a refund Telegram made
// already answers CHARGE_ALREADY_REFUNDED, which counts as done). Crypto
// Pay has no refunds: the reversal is recorded, and the admin returns the
// money by hand. The user is told either way.
func (b *Bot) refundInvoice(ctx context.Context, c tele.Context, lang string, act shop.Act, inv shop.Invoice) (string, error) {
	adm := adminTextsIn(lang)
	stars := inv.Provider == shop.ProviderStars
	if !stars {
		act.Note = refundByHandNote
	}
	res, err := b.shop.AdminRefund(ctx, act, inv.ID)
	switch {
	case errors.Is(err, shop.ErrNotPaid):
		return fmt.Sprintf(adm.notPaid, inv.ID, inv.Status), nil
	case errors.Is(err, shop.ErrInsufficientBalance):
		return fmt.Sprintf(adm.spent, inv.ID), nil
	case err != nil:
		return "", err
	case res.Entry == nil:
		return "", fmt.Errorf("refunding invoice %d: the shop returned no reversal", inv.ID)
	}
	r := *res.Entry
	b.logAction(ctx, act, shop.ActionRefund, inv.UserID, res.Applied)
	if stars {
		if err := b.refundStars(c, inv.UserID, inv.ChargeID); err != nil {
			b.log.Error().Ctx(ctx).Err(err).Int64("invoice_id", inv.ID).Int64("user_id", inv.UserID).
				Msg("refund recorded, but Telegram did not give the Stars back; /refund again retries it")
			return fmt.Sprintf(adm.telegramRefused, inv.ID, botui.Escape(err.Error()), inv.ID), nil
		}
	}
	b.log.Info().Ctx(ctx).Str("event", EventRefunded).Int64("invoice_id", inv.ID).Int64("user_id", inv.UserID).
		Str("provider", inv.Provider).Str("charge_id", inv.ChargeID).Int64("amount", -r.Money).
		Dur("taken_back", -r.Duration).Bool("again", !res.Applied).Msg("payment refunded")
	if err := b.tellRefund(ctx, inv.UserID, r); err != nil {
		return "", err
	}
	done := adm.refunded
	if !stars {
		done = adm.refundedByHand
	}
	return fmt.Sprintf(done, inv.ID, formatMoney(r.Currency, -r.Money), inv.UserID, takenBack(lang, r)), nil
}

// takenBack says, for an admin, what refund r took back.
func takenBack(lang string, r shop.Entry) string {
	adm := adminTextsIn(lang)
	switch {
	case r.Duration < 0:
		return fmt.Sprintf(adm.takenAccess, textsIn(lang).Duration((-r.Duration).Round(time.Hour)))
	case r.Amount < 0:
		return fmt.Sprintf(adm.takenBalance, formatMoney(r.Currency, -r.Amount))
	}
	return adm.takenNothing
}

// tellRefund queues the user's notice of refund r, once: its dedup id is
// the refund's op key.
func (b *Bot) tellRefund(ctx context.Context, userID int64, r shop.Entry) error {
	lang, _, err := b.users.UserLanguage(ctx, userID)
	if err != nil {
		return err
	}
	_, _, err = b.outbox.PublishBatch(ctx, []*vpnbotv1.SendMessage{{
		DedupId:   r.OpKey,
		ChatId:    userID,
		Text:      RefundNotice(lang, r),
		ParseMode: "HTML",
		Priority:  vpnbotv1.Priority_PRIORITY_TRANSACTIONAL,
		CreatedAt: timestamppb.New(r.CreatedAt),
	}})
	if err != nil {
		return fmt.Errorf("queueing the refund notice of user %d: %w", userID, err)
	}
	return nil
}

// refundStars asks Telegram to give back the Stars of a charge. A charge
// refunded already is done.
func (b *Bot) refundStars(c tele.Context, userID int64, chargeID string) error {
	_, err := c.Bot().Raw("refundStarPayment", map[string]any{"user_id": userID, "telegram_payment_charge_id": chargeID})
	if e, ok := telegram.AsError(err); ok && e.Code == http.StatusBadRequest && strings.Contains(e.Description, "CHARGE_ALREADY_REFUNDED") {
		return nil
	}
	return err
}

// autoRefund gives back a Stars payment that could not be applied and
// tells the user. A Telegram failure is returned, so the update is
// retried: the payment is refused again, and refunded then.
func (b *Bot) autoRefund(ctx context.Context, c tele.Context, lang string, p *tele.Payment) error {
	if err := b.refundStars(c, c.Sender().ID, p.TelegramChargeID); err != nil {
		if e, ok := telegram.AsError(err); ok && !e.Retryable() {
			b.log.Error().Ctx(ctx).Err(err).Str("event", EventPaymentConflict).Int64("user_id", c.Sender().ID).
				Str("charge_id", p.TelegramChargeID).Msg("Telegram refused to refund a payment that bought nothing; refund it by hand")
			return b.send(ctx, c, PaymentConflictScreen(lang, b.support))
		}
		return fmt.Errorf("refunding charge %s: %w", p.TelegramChargeID, err)
	}
	b.log.Warn().Ctx(ctx).Str("event", EventAutoRefunded).Int64("user_id", c.Sender().ID).Str("charge_id", p.TelegramChargeID).
		Str("payload", p.Payload).Int("total", p.Total).Msg("Stars payment that bought nothing refunded")
	return b.send(ctx, c, Screen{Text: fmt.Sprintf(refundTextsIn(lang).autoRefunded, formatMoney(shop.CurrencyXTR, int64(p.Total))),
		Buttons: [][]Button{menuButton(textsIn(lang))}})
}
