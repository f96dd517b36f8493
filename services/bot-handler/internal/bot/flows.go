package bot

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/notify"
	"github.com/vpnbot/vpnbot/pkg/shop"
	"github.com/vpnbot/vpnbot/pkg/telegram"
)

// Event names of the payment flows' log lines.
const (
	// EventPaymentApplied is a Stars payment that extended a subscription.
	EventPaymentApplied = "PAYMENT_APPLIED"
	// EventPaymentConflict is money taken that bought nothing (a charge id
	// clashing with another, a payment of an order that is not the user's):
	// support refunds it.
	EventPaymentConflict = "PAYMENT_CONFLICT"
	// EventCryptoPayDown is Crypto Pay failing to create an invoice.
	EventCryptoPayDown = "CRYPTOPAY_UNAVAILABLE"
)

// Reasons of activation requests.
const (
	ReasonTrial   = "trial"
	ReasonPayment = "payment"
	// ReasonRelink wakes the activation worker to make a new link the user
	// asked for (shop.RequestNewLink).
	ReasonRelink = "relink"
)

// onCallback answers a button press, then runs what the button stands for.
// Whether a press is acted on is decided by its age alone: one that waited
// in the stream longer than CALLBACK_MAX_AGE never gets here (the updates
// handler skips it as CALLBACK_STALE). The answer comes first, to stop the
// client's spinner, but it is a courtesy, not a test of staleness.
func (b *Bot) onCallback(ctx context.Context, c tele.Context) error {
	cb := c.Callback()
	if err := b.answerCallback(c); err != nil {
		return err
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	// The workers' messages carry buttons too: botui reads their data as
	// it reads the bot's own (show tells the two apart).
	action, arg, _ := botui.ParseCallback(cb.Data)
	if gated, err := b.channelGate(ctx, c, lang, action); gated || err != nil {
		return err
	}
	switch action {
	case botui.ActionTrial:
		return b.trial(ctx, c, lang)
	case botui.ActionPlans:
		return b.plans(ctx, c, lang)
	case botui.ActionPlan:
		return b.plan(ctx, c, lang, arg)
	case botui.ActionPayCrypto:
		return b.payCrypto(ctx, c, lang, arg)
	case botui.ActionPayStars:
		return b.payStars(ctx, c, lang, arg)
	case botui.ActionPaid:
		return b.paid(ctx, c, lang, arg)
	case botui.ActionPayBalanceUSD:
		return b.payFromBalance(ctx, c, lang, arg, shop.CurrencyUSD)
	case botui.ActionPayBalanceXTR:
		return b.payFromBalance(ctx, c, lang, arg, shop.CurrencyXTR)
	case botui.ActionBalance:
		return b.balance(ctx, c, lang)
	case botui.ActionHistory:
		return b.history(ctx, c, lang)
	case botui.ActionTopUpCrypto:
		return b.topUpCryptoPress(ctx, c, lang, arg)
	case botui.ActionTopUpStars:
		return b.topUpStarsPress(ctx, c, lang, arg)
	case botui.ActionSubscription:
		return b.subscription(ctx, c, lang)
	case botui.ActionSetup:
		return b.setup(ctx, c, lang, arg)
	case botui.ActionRelink:
		return b.relink(ctx, c, lang)
	case botui.ActionRelinkConfirm:
		return b.relinkConfirm(ctx, c, lang)
	case botui.ActionLocations:
		return b.locations(ctx, c, lang)
	case botui.ActionSetLocation:
		return b.setLocation(ctx, c, lang, arg)
	case botui.ActionInvite:
		return b.invite(ctx, c, lang)
	case botui.ActionLanguages:
		return b.show(ctx, c, LanguageScreen(lang))
	case botui.ActionSetLanguage:
		return b.setLanguage(ctx, c, arg)
	case botui.ActionHelp:
		return b.show(ctx, c, HelpScreen(lang, b.support))
	case botui.ActionChannelCheck:
		return b.channelCheck(ctx, c, lang, arg)
	case botui.ActionAutoRenewOn, botui.ActionAutoRenewOff, botui.ActionAutoRenewPlans, botui.ActionAutoRenewPlan,
		botui.ActionAutoRenewTopUp:
		return b.onAutoRenew(ctx, c, lang, action, arg)
	case botui.ActionAdmin:
		return b.onAdminPress(ctx, c, lang, arg)
	case botui.ActionBroadcastSend, botui.ActionBroadcastSendPaid, botui.ActionBroadcastDiscard, botui.ActionBroadcastStatus,
		botui.ActionBroadcastCancel, botui.ActionBroadcastCancelConfirm:
		return b.onBroadcastButton(ctx, c, lang, action, arg)
	default:
		// botui.ActionMenu, and buttons of an older version of the bot.
		return b.show(ctx, c, MenuScreen(lang, b.appURL))
	}
}

// answerCallback answers a button press. Telegram refuses the answer with
// 400 "query is too old" when the press was answered already, by an earlier
// delivery of this update that failed later on (a 429 on the screen's edit),
// or when Telegram's time for answers passed while the press waited in the
// stream. Neither makes the press stale, so the refusal is only logged and
// the press is acted on. A retry thus repeats the action, which the
// database keeps harmless: screens are edits, the trial is given once (the
// retry shows it running), and a press orders once (a Stars order is bound
// to the press, pressRequest; a Crypto Pay order is the plan's one on
// offer), so the retry shows the same order to pay, and a press buys from
// the balance once (its op key is the press's). Other failures are
// returned: nothing was done yet, so a 429 or 5xx retries the press whole.
func (b *Bot) answerCallback(c tele.Context) error {
	err := c.Respond()
	if e, ok := telegram.AsError(err); ok && e.Code == http.StatusBadRequest && strings.Contains(e.Description, "query is too old") {
		b.log.Debug().Str("data", c.Callback().Data).Int64("user_id", c.Sender().ID).
			Msg("button press answered already or too late to answer; acted on anyway")
		return nil
	}
	return err
}

func (b *Bot) trial(ctx context.Context, c tele.Context, lang string) error {
	sub, err := b.shop.StartTrial(ctx, c.Sender().ID)
	switch {
	case errors.Is(err, shop.ErrTrialUsed):
		return b.trialTaken(ctx, c, lang)
	case errors.Is(err, shop.ErrAlreadySubscribed):
		return b.show(ctx, c, AlreadySubscribedScreen(lang))
	case errors.Is(err, shop.ErrUnknownUser):
		return b.show(ctx, c, NeedStartScreen(lang))
	case err != nil:
		return err
	}
	// The trial starts once per user, so its start names this request for
	// good: a retry of the publish is stored once.
	b.requestActivation(ctx, sub, ReasonTrial, sub.StartsAt)
	return b.show(ctx, c, TrialStartedScreen(lang, sub.ExpiresAt, false))
}

// trialTaken answers a press of Free trial by a user who has taken it. While
// the trial runs, the press shows it as its start did: the press may be the
// retry of the one that started it, whose screen failed (a 429), and the
// user has yet to see their trial. Only a trial that is over is refused as
// used.
func (b *Bot) trialTaken(ctx context.Context, c tele.Context, lang string) error {
	sub, err := b.shop.RunningTrial(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	if sub == nil {
		return b.show(ctx, c, TrialUsedScreen(lang))
	}
	hasKey := sub.Access != nil && sub.Access.RevokedAt == nil
	if !hasKey {
		// The screen says the key is on its way; the same request as the
		// trial's start, in case that one was lost.
		b.requestActivation(ctx, *sub, ReasonTrial, sub.StartsAt)
	}
	return b.show(ctx, c, TrialStartedScreen(lang, sub.ExpiresAt, hasKey))
}

// requestActivation wakes the activation worker. It is only a wake-up (what
// the worker is to do is in the database, which it polls), so a failed
// publish is logged, not retried: retrying the update would not start the
// trial again.
func (b *Bot) requestActivation(ctx context.Context, sub shop.Subscription, reason string, at time.Time) {
	if err := b.activations.RequestActivation(ctx, sub, reason, at); err != nil {
		b.log.Warn().Ctx(ctx).Err(err).Int64("subscription_id", sub.ID).Str("reason", reason).
			Msg("activation request not published; the activation worker's polling will find what it asks for")
	}
}

// plans shows the plans at the user's prices: less the discount they hold.
func (b *Bot) plans(ctx context.Context, c tele.Context, lang string) error {
	plans, held, err := b.shop.PlansFor(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	return b.show(ctx, c, WithDiscount(lang, held, PlansScreen(lang, plans)))
}

// orderPlan reads the plan a button names; ok is false when it is no longer
// on offer, and the plans are shown instead.
func (b *Bot) orderPlan(ctx context.Context, c tele.Context, lang, planID string) (p shop.Plan, ok bool, err error) {
	p, err = b.shop.Plan(ctx, planID)
	if errors.Is(err, shop.ErrUnknownPlan) {
		return shop.Plan{}, false, b.plans(ctx, c, lang)
	}
	return p, err == nil, err
}

// plan shows a plan at the user's prices, as plans; one no longer on offer
// shows the plans instead.
func (b *Bot) plan(ctx context.Context, c tele.Context, lang, planID string) error {
	p, held, err := b.shop.PlanFor(ctx, c.Sender().ID, planID)
	if errors.Is(err, shop.ErrUnknownPlan) {
		return b.plans(ctx, c, lang)
	}
	if err != nil {
		return err
	}
	balances, err := b.shop.Balances(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	return b.show(ctx, c, WithDiscount(lang, held, PlanWithBalanceScreen(lang, p, b.cryptoPay != nil, balances)))
}

// pressRequest names the order a press of a Stars pay button makes: a retry
// of the press (its update retried after the reply failed) finds the order
// the first attempt made, so a user who pays what each attempt showed them
// pays once.
func pressRequest(c tele.Context) string {
	return "callback:" + c.Callback().ID
}

// payCrypto shows the user's Crypto Pay order of the plan: the one on offer
// with its link, or a new one whose Crypto Pay invoice it makes (no
// transaction is open meanwhile). Every press while the order may be
// offered shows the same link, whichever replica takes it and however often
// it is retried (shop.CryptoPayOrder). If Crypto Pay fails, the order stays
// without an invoice: the next press makes one, or it simply expires (the
// payment-watcher expires it after the TTL): nothing was offered to pay.
func (b *Bot) payCrypto(ctx context.Context, c tele.Context, lang, planID string) error {
	if b.cryptoPay == nil {
		return b.plan(ctx, c, lang, planID)
	}
	p, ok, err := b.orderPlan(ctx, c, lang, planID)
	if !ok {
		return err
	}
	title := textsIn(lang).planTitle(p)
	inv, err := b.shop.CryptoPayOrder(ctx, c.Sender().ID, p.ID, b.createCryptoInvoice(title))
	switch {
	case errors.Is(err, shop.ErrUnknownUser):
		return b.show(ctx, c, NeedStartScreen(lang))
	case errors.Is(err, shop.ErrExternal):
		b.log.Warn().Ctx(ctx).Err(err).Str("event", EventCryptoPayDown).Int64("user_id", c.Sender().ID).Str("plan", p.ID).
			Msg("creating the Crypto Pay invoice failed; the next press tries again, or the order expires unpaid")
		return b.show(ctx, c, PaymentsDownScreen(lang, p.ID))
	case err != nil:
		return err
	}
	return b.show(ctx, c, CryptoInvoiceScreen(lang, inv, title, inv.PayURL))
}

// payStars makes the press's order and sends its Telegram Stars invoice. A
// retry of the press sends the same order's invoice again, which is harmless:
// the order is paid once (a second checkout of it is refused). Telegram
// rejects a reply_markup on a Stars invoice other than its own Pay button, so
// none is sent.
func (b *Bot) payStars(ctx context.Context, c tele.Context, lang, planID string) error {
	p, ok, err := b.orderPlan(ctx, c, lang, planID)
	if !ok {
		return err
	}
	inv, err := b.shop.CreateOrderOnce(ctx, pressRequest(c), c.Sender().ID, p.ID, shop.ProviderStars)
	switch {
	case errors.Is(err, shop.ErrUnknownUser):
		return b.show(ctx, c, NeedStartScreen(lang))
	case err != nil:
		return err
	}
	title, description := StarsInvoice(lang, p)
	if err := b.sendStarsInvoice(ctx, c, inv, title, description); err != nil {
		return err
	}
	return b.show(ctx, c, StarsSentScreen(lang))
}

// sendStarsInvoice sends the Telegram Stars invoice of order inv, for its
// price in stars. The invoice of a command (/topup) replies to it, which
// answers it; a button's press is answered by the press's answer.
func (b *Bot) sendStarsInvoice(ctx context.Context, c tele.Context, inv shop.Invoice, title, description string) error {
	params := map[string]any{
		"chat_id":        c.Chat().ID,
		"title":          title,
		"description":    description,
		"payload":        shop.StarsPayload(inv.ID),
		"provider_token": "",
		"currency":       shop.StarsCurrency,
		"prices":         []map[string]any{{"label": title, "amount": inv.PriceStars}},
	}
	if c.Callback() == nil {
		params["reply_parameters"] = map[string]any{"message_id": c.Message().ID, "allow_sending_without_reply": true}
	}
	_, err := c.Bot().Raw("sendInvoice", params)
	return b.delivered(ctx, c, err)
}

// onCheckout answers a pre_checkout_query: yes only for a pending order of
// this user at this price. Telegram gives the answer seconds, so a failure on
// our side is answered "no, try again" rather than retried.
func (b *Bot) onCheckout(ctx context.Context, c tele.Context) error {
	q := c.PreCheckoutQuery()
	lang, err := b.language(ctx, q.Sender)
	if err != nil {
		lang = botui.Language(q.Sender.LanguageCode)
	}
	answer := map[string]any{"pre_checkout_query_id": q.ID, "ok": true}
	log := b.log.With().Int64("user_id", q.Sender.ID).Str("payload", q.Payload).Int("total", q.Total).Ctx(ctx).Logger()
	if _, err := b.shop.ValidateCheckout(ctx, q.Sender.ID, q.Payload, q.Currency, q.Total); err != nil {
		problem := !errors.Is(err, shop.ErrCheckoutMismatch)
		if problem {
			log.Error().Err(err).Msg("pre-checkout could not be validated; refused")
		} else {
			log.Info().Err(err).Msg("pre-checkout refused")
		}
		answer["ok"] = false
		answer["error_message"] = CheckoutRefusal(lang, problem)
	}
	_, err = c.Bot().Raw("answerPreCheckoutQuery", answer)
	if e, ok := telegram.AsError(err); ok && e.Code == http.StatusBadRequest {
		// Answered too late: Telegram cancelled the payment, nothing was charged.
		log.Warn().Err(err).Msg("pre-checkout answer came too late")
		return nil
	}
	return err
}

// onPayment applies a successful_payment once per charge id, tells the user
// it arrived and marks it told. A payment applied already is not applied
// again; it is confirmed unless it was confirmed already, so the retry of an
// update whose "Payment received" failed (a 429) still tells the user, and a
// successful_payment Telegram delivers again goes unanswered. A top-up of
// the balance is told as one, and activates nothing.
func (b *Bot) onPayment(ctx context.Context, c tele.Context) error {
	p := c.Message().Payment
	userID := c.Sender().ID
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	log := b.log.With().Int64("user_id", userID).Str("charge_id", p.TelegramChargeID).
		Str("payload", p.Payload).Int("total", p.Total).Ctx(ctx).Logger()
	sub, applied, err := b.shop.ApplyStarsPayment(ctx, userID, p.Payload, p.TelegramChargeID, p.Total)
	switch {
	case errors.Is(err, shop.ErrChargeConflict), errors.Is(err, shop.ErrCheckoutMismatch):
		log.Warn().Err(err).Msg("Stars payment not applied; refunding it")
		return b.autoRefund(ctx, c, lang, p)
	case err != nil:
		return err
	case !applied:
		announced, err := b.shop.StarsAnnounced(ctx, p.Payload)
		if err != nil {
			return err
		}
		if announced {
			log.Info().Int64("subscription_id", sub.ID).Msg("Stars payment delivered again; applied and confirmed already")
			return nil
		}
		log.Info().Int64("subscription_id", sub.ID).Msg("Stars payment applied already but not confirmed (a retry); confirming it")
	default:
		log.Info().Str("event", EventPaymentApplied).Int64("subscription_id", sub.ID).
			Time("expires_at", sub.ExpiresAt).Msg("Stars payment applied")
	}
	if sub.ID == 0 {
		// A top-up (shop.ApplyPayment): it credits the balance, no period.
		return b.confirmStarsTopUp(ctx, c, lang, p)
	}
	// The expiry is this payment's own, so a retry publishes the same id;
	// unless a later payment extended the period since, when the request is
	// one more wake-up of the activation worker.
	b.requestActivation(ctx, sub, ReasonPayment, sub.ExpiresAt)
	hasKey := sub.Access != nil && sub.Access.RevokedAt == nil
	if err := b.send(ctx, c, PaymentReceivedScreen(lang, sub.ExpiresAt, hasKey)); err != nil {
		return err
	}
	// A crash before this mark confirms the payment once more on the retry:
	// replies are at-least-once, a silent payment would be worse.
	return b.shop.MarkStarsAnnounced(ctx, p.Payload)
}

// subscriptionView reads what the subscription screen shows the user.
func (b *Bot) subscriptionView(ctx context.Context, userID int64) (SubscriptionView, error) {
	sub, err := b.shop.ActiveSubscription(ctx, userID)
	if err != nil {
		return SubscriptionView{}, err
	}
	locations, err := b.users.Locations(ctx, userID)
	if err != nil {
		return SubscriptionView{}, err
	}
	balances, err := b.shop.Balances(ctx, userID)
	if err != nil {
		return SubscriptionView{}, err
	}
	autoRenew, err := b.autoRenewOf(ctx, userID, sub)
	if err != nil {
		return SubscriptionView{}, err
	}
	return SubscriptionView{Sub: sub, Now: b.nowFunc(), Locations: locations, Balances: balances, AutoRenew: autoRenew}, nil
}

// subscription shows the user's subscription, and with a key its QR code as
// a photo below.
func (b *Bot) subscription(ctx context.Context, c tele.Context, lang string) error {
	v, err := b.subscriptionView(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	if err := b.show(ctx, c, SubscriptionScreen(lang, v)); err != nil {
		return err
	}
	if !v.keyShown() {
		return nil
	}
	png, err := notify.QRCode(v.key())
	if err != nil {
		return errors.Join(ErrRejected, err) // a key too long for a QR code stays so
	}
	photo := &tele.Photo{File: tele.FromReader(bytes.NewReader(png)), Caption: QRCaption(lang)}
	return b.delivered(ctx, c, c.Send(photo))
}

func (b *Bot) setup(ctx context.Context, c tele.Context, lang, platform string) error {
	v, err := b.subscriptionView(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	if v.key() == "" {
		return b.show(ctx, c, SubscriptionScreen(lang, v))
	}
	return b.show(ctx, c, SetupScreen(lang, platform, v.key()))
}

// relink asks the user to confirm a new link. A user whose screen no longer
// shows a key (the period ended since, or the press is of an old screen)
// sees their subscription instead: there is no link to replace.
func (b *Bot) relink(ctx context.Context, c tele.Context, lang string) error {
	v, err := b.subscriptionView(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	if !v.keyShown() {
		return b.show(ctx, c, SubscriptionScreen(lang, v))
	}
	return b.show(ctx, c, RelinkConfirmScreen(lang, v.moveTo()))
}

// relinkConfirm records the user's request for a new link and wakes the
// activation worker, which rotates their account on its panel and delivers
// the new link as it does a new key. A second press, or the retry of this
// one, asks once: the request keeps the time of the first
// (shop.RequestNewLink), and the wake-up is named after the access whose
// link is replaced (its created_at, which the rotation renews), so JetStream
// stores it once within the stream's duplicate window. A user without a key
// to replace sees their subscription.
func (b *Bot) relinkConfirm(ctx context.Context, c tele.Context, lang string) error {
	userID := c.Sender().ID
	v, err := b.subscriptionView(ctx, userID)
	if err != nil {
		return err
	}
	if !v.keyShown() {
		return b.show(ctx, c, SubscriptionScreen(lang, v))
	}
	found, err := b.shop.RequestNewLink(ctx, userID)
	if err != nil {
		return err
	}
	if !found {
		// A live access with no account recorded: there is nothing to
		// rotate, and the user is better shown their key than an error.
		b.log.Warn().Ctx(ctx).Int64("user_id", userID).Int64("subscription_id", v.Sub.ID).
			Msg("a new link asked for by a user with a key but no panel account; nothing to rotate")
		return b.show(ctx, c, SubscriptionScreen(lang, v))
	}
	b.requestActivation(ctx, *v.Sub, ReasonRelink, v.Sub.Access.CreatedAt)
	return b.show(ctx, c, RelinkRequestedScreen(lang))
}

// locations lists the locations offered to choose from; with no choice
// (one location, or the button of an old screen) the subscription instead.
func (b *Bot) locations(ctx context.Context, c tele.Context, lang string) error {
	v, err := b.subscriptionView(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	if len(v.Locations.Offered) == 0 {
		return b.show(ctx, c, SubscriptionScreen(lang, v))
	}
	return b.show(ctx, c, LocationsScreen(lang, v.Locations))
}

// setLocation records the location the user chose, for their next new key,
// and shows their subscription: where their key is, and, when it is
// elsewhere, how a new link moves it. A location no longer offered (the
// button of an old screen) is not recorded: the locations are shown again.
func (b *Bot) setLocation(ctx context.Context, c tele.Context, lang, location string) error {
	userID := c.Sender().ID
	l, err := b.users.Locations(ctx, userID)
	if err != nil {
		return err
	}
	if !slices.Contains(l.Offered, location) {
		return b.locations(ctx, c, lang)
	}
	found, err := b.users.SetLocation(ctx, userID, location)
	if err != nil {
		return err
	}
	if !found {
		return b.show(ctx, c, NeedStartScreen(lang))
	}
	v, err := b.subscriptionView(ctx, userID)
	if err != nil {
		return err
	}
	return b.show(ctx, c, SubscriptionScreen(lang, v))
}

func (b *Bot) setLanguage(ctx context.Context, c tele.Context, lang string) error {
	if !slices.Contains(languages, lang) {
		lang = botui.English
	}
	found, err := b.users.SetLanguage(ctx, c.Sender().ID, lang)
	if err != nil {
		return err
	}
	if !found {
		return b.show(ctx, c, NeedStartScreen(lang))
	}
	return b.show(ctx, c, LanguageChangedScreen(lang, b.appURL))
}
