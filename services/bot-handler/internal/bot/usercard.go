package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/vpnbot/vpnbot/pkg/botui"
	"github.com/vpnbot/vpnbot/pkg/shop"
)

// The user card: /user <id | @username | #invoice | charge id> shows
// support and admins a user, and gives admins buttons that act on them.
//
// Every action asks first. The question's yes button carries a nonce, the
// id of the update that showed the question, and the action's op key is
// made of the bot, that nonce, the action and its target: a yes pressed
// twice, or its update redelivered, is the same op key, which the shop does
// once and audits once (shop.Act). A command (/extend, /grant, /msg,
// /refund) is its own question: its update id is the nonce.

// EventAdminAction is an admin's action on a user, applied or found done.
const EventAdminAction = "ADMIN_ACTION"

// ReasonAdmin, followed by "_" and the action, wakes the activation worker
// for a period an admin changed: extended or started, its user banned or
// unbanned, its key reissued.
const ReasonAdmin = "admin"

const (
	// cardLedger is how many ledger rows the card shows, newest first.
	cardLedger = 5
	// cardWeek and cardMonth are the days the card's buttons add or take.
	cardWeek  = 7
	cardMonth = 30
	// maxAdminDays bounds /extend: more is a typo.
	maxAdminDays = 3650
	// refundByHandNote is the audit note of a Crypto Pay refund: the
	// ledger reversal is the bot's, the money goes back by hand.
	refundByHandNote = "returned by hand in Crypto Pay"
)

// Steps of a user card's buttons.
const (
	stepCard    = "c" // show the card
	stepRefunds = "r" // pick the payment to refund
	stepAsk     = "a" // ask whether to do the action
	stepYes     = "y" // do it
)

// Actions of the card's buttons, as their data names them (short: a
// button's data is at most 64 bytes).
const (
	cardExtend  = "ext" // param: days
	cardShorten = "shr" // param: days
	cardEnd     = "end"
	cardBan     = "ban"
	cardUnban   = "unb"
	cardReissue = "key"
	cardRefund  = "ref" // param: invoice id
)

// cardActions are the shop's names of the card's actions, for op keys and
// logs.
var cardActions = map[string]string{
	cardExtend: shop.ActionExtend, cardShorten: shop.ActionShorten, cardEnd: shop.ActionEnd, cardBan: shop.ActionBan,
	cardUnban: shop.ActionUnban, cardReissue: shop.ActionReissue, cardRefund: shop.ActionRefund,
	cardGrantUSD: shop.ActionGrantBalance, cardGrantStars: shop.ActionGrantBalance, cardMessage: shop.ActionMessage,
}

// cardPress is what a button of the card asks: a step, and for a question
// or its yes the action, its target user, its parameter and (yes) the
// nonce of the question.
type cardPress struct {
	step   string
	act    string
	target int64
	param  int64
	nonce  int64
}

// data is the press's callback data; parseCardPress reads it back.
func (p cardPress) data() string {
	act := p.act
	if act == "" {
		act = "-"
	}
	return botui.Callback(botui.ActionAdmin, fmt.Sprintf("%s:%s:%d:%d:%d", p.step, act, p.target, p.param, p.nonce))
}

// parseCardPress reads the argument of an ActionAdmin button.
func parseCardPress(arg string) (cardPress, bool) {
	f := strings.Split(arg, ":")
	if len(f) != 5 {
		return cardPress{}, false
	}
	p := cardPress{step: f[0], act: f[1]}
	var nums [3]int64
	for i, s := range f[2:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return cardPress{}, false
		}
		nums[i] = n
	}
	p.target, p.param, p.nonce = nums[0], nums[1], nums[2]
	// Only a grant takes as well as gives.
	signed := p.act == cardGrantUSD || p.act == cardGrantStars
	if p.target <= 0 || p.nonce < 0 || (p.param < 0 && !signed) {
		return cardPress{}, false
	}
	_, known := cardActions[p.act]
	switch p.step {
	case stepCard, stepRefunds, stepCancel:
		return cardPress{step: p.step, target: p.target}, p.act == "-"
	case stepInput:
		_, asks := inputActions[p.act]
		return cardPress{step: p.step, act: p.act, target: p.target}, asks
	case stepAsk:
		return p, known && !answerActions[p.act]
	case stepYes:
		return p, known && p.nonce > 0 && (!signed || p.param != 0)
	}
	return cardPress{}, false
}

// cardButton opens the card of user.
func cardButton(text string, user int64) Button {
	return data(text, cardPress{step: stepCard, target: user}.data())
}

// CardView is what the user card shows.
type CardView struct {
	Card shop.UserCard
	// Act is whether the viewer may act on the user (admin or owner): the
	// card then has its buttons.
	Act bool
}

// paidInvoices are the user's latest invoices that can be refunded.
func (v CardView) paidInvoices() []shop.Invoice {
	var out []shop.Invoice
	for _, inv := range v.Card.Invoices {
		if inv.Status == shop.InvoicePaid {
			out = append(out, inv)
		}
	}
	return out
}

// live is whether the user has a period that is not over.
func (v CardView) live() bool {
	s := v.Card.Subscription
	return s != nil && s.Status == shop.StatusActive
}

// who names a user for an admin: "1001 (@alice)".
func who(u shop.UserInfo) string {
	switch {
	case u.Username != "":
		return fmt.Sprintf("%d (@%s)", u.ID, botui.Escape(u.Username))
	case u.FirstName != "":
		return fmt.Sprintf("%d (%s)", u.ID, botui.Escape(u.FirstName))
	}
	return strconv.FormatInt(u.ID, 10)
}

// UserCardScreen is /user: who the user is, their period and key, their
// balance and latest money, and, for an admin, what can be done to them.
func UserCardScreen(lang string, v CardView) Screen {
	t, adm := textsIn(lang), adminTextsIn(lang)
	u := v.Card
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w(adm.head, u.ID)
	if u.BannedAt != nil {
		w(adm.banned, t.Date(*u.BannedAt))
	}
	if u.Role != "" {
		w(adm.role, adm.roleName(u.Role))
	}
	w(adm.name, botui.Escape(orDash(u.FirstName)))
	w(adm.username, botui.Escape(orDash(at(u.Username))))
	w(adm.language, botui.Escape(u.Language), botui.Escape(orDash(u.LanguageCode)))
	w(adm.joined, t.Date(u.CreatedAt))
	if u.BlockedAt != nil {
		w(adm.blocked, t.Date(*u.BlockedAt))
	}
	if u.Trial != nil {
		w(adm.trial, t.Date(*u.Trial))
	} else {
		w(adm.trialNone)
	}
	if s := u.Subscription; s != nil {
		w(adm.sub, s.ID, s.Kind, s.Status, t.Date(s.StartsAt), t.Date(s.ExpiresAt))
	} else {
		w(adm.subNone)
	}
	if a := u.Account; a != nil {
		w(adm.key, a.Panel, botui.Escape(orDash(a.Name)))
		if u.SuspendedAt != nil {
			w(adm.suspended, t.Date(*u.SuspendedAt))
		}
		if a.URL != "" {
			w(adm.link, botui.Escape(a.URL))
		}
	} else {
		w(adm.keyNone)
	}
	if len(u.Balances) == 0 {
		w(adm.balanceNone)
	} else {
		amounts := make([]string, len(u.Balances))
		for i, bal := range u.Balances {
			amounts[i] = formatMoney(bal.Currency, bal.Amount)
		}
		w(adm.balance, strings.Join(amounts, " · "))
	}
	if len(u.Invoices) == 0 {
		w(adm.invoicesNone)
	} else {
		w(adm.invoices)
	}
	for _, inv := range u.Invoices {
		w("• #%d %s %s %s %s, %s", inv.ID, orDash(inv.PlanID), inv.Provider, invoicePrice(inv), inv.Status, t.Date(inv.CreatedAt))
	}
	ledger := u.History[:min(len(u.History), cardLedger)]
	if len(ledger) > 0 {
		w(adm.ledger)
	}
	for _, e := range ledger {
		w("• %s %s, %s", e.Kind, ledgerChange(t, adm, e), t.Date(e.CreatedAt))
	}
	if !v.Act {
		return Screen{Text: strings.TrimRight(b.String(), "\n")}
	}
	w("\n"+adm.commands, u.ID, u.ID, u.ID)
	return Screen{Text: strings.TrimRight(b.String(), "\n"), Buttons: cardButtons(t, adm, v)}
}

// cardButtons are the card's actions: each asks first.
func cardButtons(t *texts, adm *adminTexts, v CardView) [][]Button {
	user := v.Card.ID
	ask := func(text, act string, param int64) Button {
		return data(text, cardPress{step: stepAsk, act: act, target: user, param: param}.data())
	}
	week, month := cardWeek*24*time.Hour, cardMonth*24*time.Hour
	rows := [][]Button{{
		ask(fmt.Sprintf(adm.btnExtend, t.Duration(week)), cardExtend, cardWeek),
		ask(fmt.Sprintf(adm.btnExtend, t.Duration(month)), cardExtend, cardMonth),
	}}
	if v.live() {
		rows = append(rows, []Button{
			ask(fmt.Sprintf(adm.btnShorten, t.Duration(week)), cardShorten, cardWeek),
			ask(adm.btnEnd, cardEnd, 0),
		})
	}
	ban := ask(adm.btnBan, cardBan, 0)
	if v.Card.BannedAt != nil {
		ban = ask(adm.btnUnban, cardUnban, 0)
	}
	second := []Button{ban}
	if v.Card.Account != nil {
		second = append(second, ask(adm.btnReissue, cardReissue, 0))
	}
	rows = append(rows, second, []Button{
		data(adm.btnGrant, cardPress{step: stepInput, act: cardBalance, target: user}.data()),
		data(adm.btnMessage, cardPress{step: stepInput, act: cardMessage, target: user}.data()),
	})
	last := []Button{cardButton(adm.btnRefresh, user)}
	if len(v.paidInvoices()) > 0 {
		last = append([]Button{data(adm.btnRefund, cardPress{step: stepRefunds, target: user}.data())}, last...)
	}
	return append(rows, last)
}

// invoicePrice is what an invoice costs, as the card lists it.
func invoicePrice(inv shop.Invoice) string {
	if inv.Provider == shop.ProviderStars {
		return fmt.Sprintf("⭐%d", inv.PriceStars)
	}
	return "$" + inv.PriceUSD
}

// ledgerChange is what a ledger row moved: money, balance, days.
func ledgerChange(t *texts, adm *adminTexts, e shop.Entry) string {
	var parts []string
	if e.Money != 0 {
		parts = append(parts, signed(e.Money)+formatMoney(e.Currency, abs(e.Money)))
	}
	if e.Amount != 0 {
		parts = append(parts, adm.ofBalance+" "+signed(e.Amount)+formatMoney(e.Currency, abs(e.Amount)))
	}
	if e.Duration != 0 {
		d := e.Duration
		if d < 0 {
			d = -d
		}
		parts = append(parts, signed(int64(e.Duration))+t.Duration(d.Round(time.Minute)))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, " ")
}

func signed(n int64) string {
	if n < 0 {
		return "−"
	}
	return "+"
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// CardUsageScreen answers a /user without a query.
func CardUsageScreen(lang string) Screen { return Screen{Text: adminTextsIn(lang).cardUsage} }

// CardNoUserScreen answers a query that matches no user.
func CardNoUserScreen(lang, query string) Screen {
	return Screen{Text: fmt.Sprintf(adminTextsIn(lang).noUser, botui.Escape(query))}
}

// CardQuestionScreen asks whether to do what p asks to user (nonce: the
// update that asks, for the yes button's op key). A message's question is
// CardMessageQuestionScreen.
func CardQuestionScreen(lang string, p cardPress, u shop.UserInfo, inv *shop.Invoice) Screen {
	t, adm := textsIn(lang), adminTextsIn(lang)
	name := who(u)
	var q string
	switch p.act {
	case cardExtend:
		q = fmt.Sprintf(adm.askExtend, t.Duration(time.Duration(p.param)*24*time.Hour), name)
	case cardShorten:
		q = fmt.Sprintf(adm.askShorten, t.Duration(time.Duration(p.param)*24*time.Hour), name)
	case cardEnd:
		q = fmt.Sprintf(adm.askEnd, name)
	case cardBan:
		q = fmt.Sprintf(adm.askBan, name)
	case cardUnban:
		q = fmt.Sprintf(adm.askUnban, name)
	case cardReissue:
		q = fmt.Sprintf(adm.askReissue, name)
	case cardRefund:
		ask := adm.askRefund
		if inv.Provider != shop.ProviderStars {
			ask = adm.askRefundHand
		}
		q = fmt.Sprintf(ask, inv.ID, name, formatMoney(inv.Currency(), inv.Price))
	case cardGrantUSD, cardGrantStars:
		currency, ask := shop.CurrencyUSD, adm.askGrant
		if p.act == cardGrantStars {
			currency = shop.CurrencyXTR
		}
		if p.param < 0 {
			ask = adm.askTake
		}
		q = fmt.Sprintf(ask, formatMoney(currency, abs(p.param)), name)
	}
	yes := p
	yes.step = stepYes
	return Screen{Text: q, Buttons: [][]Button{{data(adm.btnYes, yes.data())}, {cardButton(adm.btnBack, u.ID)}}}
}

// CardRefundsScreen lists the user's paid invoices to pick the one to
// refund.
func CardRefundsScreen(lang string, v CardView) Screen {
	t, adm := textsIn(lang), adminTextsIn(lang)
	paid := v.paidInvoices()
	back := []Button{cardButton(adm.btnBack, v.Card.ID)}
	if len(paid) == 0 {
		return Screen{Text: fmt.Sprintf(adm.noRefunds, who(v.Card.UserInfo)), Buttons: [][]Button{back}}
	}
	rows := make([][]Button, 0, len(paid)+1)
	for _, inv := range paid {
		label := fmt.Sprintf("#%d %s %s, %s", inv.ID, orDash(inv.PlanID), invoicePrice(inv), t.Date(inv.CreatedAt))
		rows = append(rows, []Button{data(label,
			cardPress{step: stepAsk, act: cardRefund, target: v.Card.ID, param: inv.ID}.data())})
	}
	return Screen{Text: fmt.Sprintf(adm.pickRefund, who(v.Card.UserInfo)), Buttons: append(rows, back)}
}

// WithResult puts the outcome of an action above the card it changed.
func WithResult(result string, card Screen) Screen {
	return Screen{Text: result + "\n\n" + card.Text, Buttons: card.Buttons}
}

// CardRefusedScreen is a press of an action by someone whose role cannot
// do it: the card again, saying so.
func CardRefusedScreen(lang, role string, card Screen) Screen {
	adm := adminTextsIn(lang)
	return WithResult(fmt.Sprintf(adm.refusedRole, adm.roleName(role)), card)
}

// cardView reads what the card of userID shows.
func (b *Bot) cardView(ctx context.Context, userID int64, role string) (CardView, error) {
	card, err := b.shop.UserCard(ctx, userID)
	if err != nil {
		return CardView{}, fmt.Errorf("reading the card of user %d: %w", userID, err)
	}
	return CardView{Card: card, Act: allowed(role, shop.RoleAdmin)}, nil
}

// card is the card of userID as someone of role sees it.
func (b *Bot) card(ctx context.Context, lang string, userID int64, role string) (Screen, error) {
	v, err := b.cardView(ctx, userID, role)
	if err != nil {
		return Screen{}, err
	}
	return UserCardScreen(lang, v), nil
}

// onUser is /user <query>, for support and up; to anyone else it is an
// unknown command.
func (b *Bot) onUser(ctx context.Context, c tele.Context) error {
	if refused, err := b.refused(ctx, c, shop.RoleSupport); refused || err != nil {
		return err
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	role, err := b.roleOf(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	query := strings.TrimSpace(c.Message().Payload)
	if query == "" {
		return b.reply(ctx, c, CardUsageScreen(lang))
	}
	userID, found, err := b.findUser(ctx, query)
	if err != nil {
		return err
	}
	if !found {
		return b.reply(ctx, c, CardNoUserScreen(lang, query))
	}
	s, err := b.card(ctx, lang, userID, role)
	if err != nil {
		return err
	}
	return b.reply(ctx, c, s)
}

// findUser resolves a query naming a user (shop.FindUser).
func (b *Bot) findUser(ctx context.Context, query string) (userID int64, found bool, err error) {
	userID, err = b.shop.FindUser(ctx, query)
	if errors.Is(err, shop.ErrUnknownUser) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("finding user %q: %w", query, err)
	}
	return userID, true, nil
}

// onAdminPress is a press of a button of the card. Its role is read again
// now: to someone with none it is a button of nothing (the menu, as any
// unknown button); support may look, not act.
func (b *Bot) onAdminPress(ctx context.Context, c tele.Context, lang, arg string) error {
	role, err := b.roleOf(ctx, c.Sender().ID)
	if err != nil {
		return err
	}
	p, ok := parseCardPress(arg)
	if !ok || !allowed(role, shop.RoleSupport) {
		return b.show(ctx, c, MenuScreen(lang, b.appURL))
	}
	v, err := b.cardView(ctx, p.target, role)
	if errors.Is(err, shop.ErrUnknownUser) {
		return b.show(ctx, c, CardNoUserScreen(lang, strconv.FormatInt(p.target, 10)))
	}
	if err != nil {
		return err
	}
	if p.step == stepCard {
		return b.show(ctx, c, UserCardScreen(lang, v))
	}
	if !allowed(role, shop.RoleAdmin) {
		b.log.Warn().Ctx(ctx).Int64("admin_id", c.Sender().ID).Str("role", role).Str("action", cardActions[p.act]).
			Int64("target_id", p.target).Msg("an admin action pressed by a role that cannot do it; refused")
		return b.show(ctx, c, CardRefusedScreen(lang, role, UserCardScreen(lang, v)))
	}
	switch p.step {
	case stepRefunds:
		return b.show(ctx, c, CardRefundsScreen(lang, v))
	case stepAsk:
		return b.ask(ctx, c, lang, p, v)
	case stepInput:
		return b.askInput(ctx, c, lang, p, v.Card.UserInfo)
	case stepCancel:
		return b.cancelInput(ctx, c, lang, v)
	}
	act := shop.Act{
		OpKey:    b.opKey(p.nonce, cardActions[p.act], p.target, p.param),
		AdminID:  c.Sender().ID,
		UpdateID: int64(c.Update().ID),
	}
	result, err := b.doCardAction(ctx, c, lang, act, p, v.Card.UserInfo)
	if err != nil {
		return err
	}
	card, err := b.card(ctx, lang, p.target, role)
	if err != nil {
		return err
	}
	return b.show(ctx, c, WithResult(result, card))
}

// ask shows the question of p; its yes carries this update's id as the
// nonce, the same on a redelivery of the update.
func (b *Bot) ask(ctx context.Context, c tele.Context, lang string, p cardPress, v CardView) error {
	p.nonce = int64(c.Update().ID)
	if p.act != cardRefund {
		return b.show(ctx, c, CardQuestionScreen(lang, p, v.Card.UserInfo, nil))
	}
	inv, err := b.refundable(ctx, p)
	if err != nil {
		return err
	}
	if inv == nil {
		return b.show(ctx, c, CardRefundsScreen(lang, v))
	}
	return b.show(ctx, c, CardQuestionScreen(lang, p, v.Card.UserInfo, inv))
}

// refundable is the invoice a refund question names, if it is the target
// user's; nil if it is not (a forged or stale button).
func (b *Bot) refundable(ctx context.Context, p cardPress) (*shop.Invoice, error) {
	inv, err := b.shop.Invoice(ctx, p.param)
	if errors.Is(err, shop.ErrUnknownInvoice) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if inv.UserID != p.target {
		return nil, nil
	}
	return &inv, nil
}

// opKey is the key of an admin action: the bot, the nonce (the update that
// asked), the action, its target and parameter.
func (b *Bot) opKey(nonce int64, action string, target, param int64) string {
	return fmt.Sprintf("tg:%d:%d:%s:%d:%d", b.me.ID, nonce, action, target, param)
}

// commandAct is the act of a command that is its own confirmation: its
// update is the nonce.
func (b *Bot) commandAct(c tele.Context, action string, target, param int64) shop.Act {
	id := int64(c.Update().ID)
	return shop.Act{OpKey: b.opKey(id, action, target, param), AdminID: c.Sender().ID, UpdateID: id}
}

// logAction logs an admin action, applied now or found done.
func (b *Bot) logAction(ctx context.Context, act shop.Act, action string, target int64, applied bool) {
	b.log.Info().Ctx(ctx).Str("event", EventAdminAction).Str("op_key", act.OpKey).Int64("admin_id", act.AdminID).
		Str("action", action).Int64("target_id", target).Bool("again", !applied).Msg("admin action")
}

// doCardAction does what the yes of p asks, under act, and returns what
// the admin is told.
func (b *Bot) doCardAction(ctx context.Context, c tele.Context, lang string, act shop.Act, p cardPress, u shop.UserInfo) (string, error) {
	adm := adminTextsIn(lang)
	name := who(u)
	if answerActions[p.act] {
		return b.doAnswerAction(ctx, lang, act, p, u)
	}
	if p.act == cardRefund {
		inv, err := b.refundable(ctx, p)
		if err != nil {
			return "", err
		}
		if inv == nil {
			return fmt.Sprintf(adm.noInvoice, p.param), nil
		}
		return b.refundInvoice(ctx, c, lang, act, *inv)
	}
	var res shop.AdminResult
	var err error
	switch p.act {
	case cardExtend:
		return b.extend(ctx, lang, act, u, int(p.param))
	case cardShorten:
		return b.extend(ctx, lang, act, u, -int(p.param))
	case cardEnd:
		res, err = b.shop.AdminEndNow(ctx, act, u.ID)
	case cardBan:
		if b.admins[u.ID] {
			return fmt.Sprintf(adm.ownerNoBan, name), nil
		}
		res, err = b.shop.Ban(ctx, act, u.ID)
	case cardUnban:
		res, err = b.shop.Unban(ctx, act, u.ID)
	case cardReissue:
		res, err = b.shop.AdminReissue(ctx, act, u.ID)
	}
	switch {
	case errors.Is(err, shop.ErrNothingActive):
		return fmt.Sprintf(adm.nothingLive, name), nil
	case errors.Is(err, shop.ErrNoAccount):
		return fmt.Sprintf(adm.noKey, name), nil
	case err != nil:
		return "", err
	}
	b.logAction(ctx, act, cardActions[p.act], u.ID, res.Applied)
	var result string
	switch p.act {
	case cardEnd:
		result = fmt.Sprintf(adm.ended, name)
	case cardBan, cardUnban:
		// Activation suspends a banned user's account, and enables it
		// again after an unban while a period is live.
		if err := b.wakeActive(ctx, u.ID, ReasonAdmin+"_"+res.Audit.Action, res.Audit.CreatedAt); err != nil {
			return "", err
		}
		result = fmt.Sprintf(adm.bannedDone, name)
		if p.act == cardUnban {
			result = fmt.Sprintf(adm.unbannedDone, name)
		}
	case cardReissue:
		if err := b.wakeActive(ctx, u.ID, ReasonAdmin+"_"+res.Audit.Action, res.Audit.CreatedAt); err != nil {
			return "", err
		}
		result = fmt.Sprintf(adm.reissued, name)
	}
	return withAgain(adm, result, res.Applied), nil
}

// withAgain adds to a result that the action was done before.
func withAgain(adm *adminTexts, result string, applied bool) string {
	if applied {
		return result
	}
	return result + "\n" + adm.again
}

// wakeActive wakes the activation worker for the user's active period, if
// they have one; at is the time the database keeps for the action (its
// audit row's), so a redelivery's wake-up is the same message. Two actions
// of a kind within a second are one wake-up: the worker's polling covers
// the second.
func (b *Bot) wakeActive(ctx context.Context, userID int64, reason string, at time.Time) error {
	sub, err := b.shop.ActiveSubscription(ctx, userID)
	if err != nil {
		return err
	}
	if sub != nil {
		b.requestActivation(ctx, *sub, reason, at)
	}
	return nil
}

// extend adds days to the user's period (negative: takes them, never below
// now) under act, waking activation for the period it leaves.
func (b *Bot) extend(ctx context.Context, lang string, act shop.Act, u shop.UserInfo, days int) (string, error) {
	adm := adminTextsIn(lang)
	action := shop.ActionExtend
	if days < 0 {
		action = shop.ActionShorten
	}
	res, err := b.shop.AdminExtend(ctx, act, u.ID, time.Duration(days)*24*time.Hour)
	if errors.Is(err, shop.ErrNothingActive) {
		return fmt.Sprintf(adm.nothingLive, who(u)), nil
	}
	if err != nil {
		return "", err
	}
	b.logAction(ctx, act, action, u.ID, res.Applied)
	if res.Subscription == nil {
		return withAgain(adm, fmt.Sprintf(adm.nothingLive, who(u)), res.Applied), nil
	}
	if days > 0 {
		// A new period needs its key; a longer one its panel's expiry. The
		// expiry it set names the request, as a payment's does.
		b.requestActivation(ctx, *res.Subscription, ReasonAdmin+"_"+action, res.Subscription.ExpiresAt)
	}
	return withAgain(adm, fmt.Sprintf(adm.ends, who(u), textsIn(lang).Date(res.Subscription.ExpiresAt)), res.Applied), nil
}
