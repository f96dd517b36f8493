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

// Promo codes: admins make them with /promo; a user enters one as a message
// of its own, or opens a deep link t.me/<bot>?start=promo_<code>.

// EventPromoRedeemed is a promo code used by a user.
const EventPromoRedeemed = "PROMO_REDEEMED"

// ReasonPromo wakes the activation worker for a period a promo code's days
// extended or started.
const ReasonPromo = "promo"

const (
	// promoStartPrefix starts the deep-link payload of a promo code.
	promoStartPrefix = "promo_"
	// promoListMax is how many codes /promo list shows, newest first: as
	// many as one message holds.
	promoListMax = 30
)

// Actions of /promo.
const (
	promoNew  = "new"
	promoList = "list"
	promoOff  = "off"
)

// promoCommand is a /promo read: its action, the code to make (promoNew)
// or the code to switch off (promoOff).
type promoCommand struct {
	action string
	promo  shop.NewPromo
	code   string
}

// parsePromoCommand reads the arguments of /promo:
//
//	new CODE percent 20|fixed 1.50|days 7|credit 5.00 [limit N] [per_user N] [expires 2027-01-31] [first]
//	list
//	off CODE
//
// An expiry date is the last day the code can be entered (UTC), so it must
// be today or later. ok is false for arguments it cannot read; bad is then
// the first word it could not, "" when none was given or some are missing.
func parsePromoCommand(args string, now time.Time) (cmd promoCommand, bad string, ok bool) {
	words := strings.Fields(args)
	if len(words) == 0 {
		return promoCommand{}, "", false
	}
	cmd.action = strings.ToLower(words[0])
	switch {
	case cmd.action == promoList && len(words) == 1:
		return cmd, "", true
	case cmd.action == promoOff && len(words) == 2:
		cmd.code = words[1]
		return cmd, "", true
	case cmd.action != promoNew:
		return promoCommand{}, words[0], false
	case len(words) < 4:
		return promoCommand{}, "", false
	}
	code, valid := shop.NormalizePromoCode(words[1])
	if !valid {
		return promoCommand{}, words[1], false
	}
	n := shop.NewPromo{Code: code, Kind: strings.ToLower(words[2])}
	amount := words[3]
	var err error
	switch n.Kind {
	case shop.PromoPercent:
		n.Percent, err = strconv.Atoi(strings.TrimSuffix(amount, "%"))
		if err == nil && (n.Percent < 1 || n.Percent > 99) {
			err = errors.New("out of range")
		}
	case shop.PromoFixed:
		n.OffUSD, err = positiveCents(amount)
	case shop.PromoDays:
		var days int
		days, err = strconv.Atoi(amount)
		if err == nil && (days < 1 || days > 3650) {
			err = errors.New("out of range")
		}
		n.Duration = time.Duration(days) * 24 * time.Hour
	case shop.PromoCredit:
		n.CreditUSD, err = positiveCents(amount)
	default:
		return promoCommand{}, words[2], false
	}
	if err != nil {
		return promoCommand{}, amount, false
	}
	for rest := words[4:]; len(rest) > 0; {
		option := strings.ToLower(rest[0])
		if option == "first" {
			n.FirstOnly, rest = true, rest[1:]
			continue
		}
		if len(rest) < 2 {
			return promoCommand{}, rest[0], false
		}
		value := rest[1]
		switch option {
		case "limit", "per_user":
			count, err := strconv.Atoi(value)
			if err != nil || count < 1 {
				return promoCommand{}, value, false
			}
			if option == "limit" {
				n.MaxUses = count
			} else {
				n.PerUser = count
			}
		case "expires":
			day, err := time.Parse(time.DateOnly, value)
			if err != nil || !day.Add(24*time.Hour).After(now) {
				return promoCommand{}, value, false
			}
			n.ExpiresAt = day.Add(24 * time.Hour)
		default:
			return promoCommand{}, rest[0], false
		}
		rest = rest[2:]
	}
	cmd.promo = n
	return cmd, "", true
}

// positiveCents reads dollars ("1.50", "$5") as cents, more than none.
func positiveCents(usd string) (int64, error) {
	cents, err := shop.ParseCents(strings.TrimPrefix(usd, "$"))
	if err == nil && cents <= 0 {
		err = errors.New("not more than none")
	}
	return cents, err
}

// onPromo is /promo: an admin makes, lists and switches off codes. To
// anyone else it is an unknown command.
func (b *Bot) onPromo(ctx context.Context, c tele.Context) error {
	if refused, err := b.refused(ctx, c, shop.RoleAdmin); refused || err != nil {
		return err
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	cmd, bad, ok := parsePromoCommand(c.Message().Payload, b.nowFunc())
	if !ok {
		return b.reply(ctx, c, PromoUsageScreen(lang, bad))
	}
	switch cmd.action {
	case promoList:
		ps, err := b.shop.Promos(ctx, promoListMax)
		if err != nil {
			return err
		}
		return b.reply(ctx, c, PromoListScreen(lang, ps, b.nowFunc()))
	case promoOff:
		p, err := b.shop.SwitchOffPromo(ctx, cmd.code)
		if errors.Is(err, shop.ErrUnknownPromo) {
			return b.reply(ctx, c, PromoRefusedScreen(lang, cmd.code, err))
		}
		if err != nil {
			return err
		}
		return b.reply(ctx, c, PromoOffScreen(lang, p))
	}
	cmd.promo.CreatedBy = c.Sender().ID
	p, err := b.shop.CreatePromo(ctx, cmd.promo)
	switch {
	case errors.Is(err, shop.ErrPromoExists):
		// A name taken, or this command retried after it made the code:
		// the admin is shown the code that has the name.
		p, err = b.shop.Promo(ctx, cmd.promo.Code)
		if err != nil {
			return err
		}
		return b.reply(ctx, c, PromoExistsScreen(lang, p))
	case errors.Is(err, shop.ErrInvalidPromo):
		return b.reply(ctx, c, PromoUsageScreen(lang, ""))
	case err != nil:
		return err
	}
	b.log.Info().Ctx(ctx).Int64("admin_id", c.Sender().ID).Str("code", p.Code).Str("kind", p.Kind).Msg("promo code made")
	return b.reply(ctx, c, PromoCreatedScreen(lang, p, b.promoLink(p.Code)))
}

// promoLink is the deep link that enters code.
func (b *Bot) promoLink(code string) string {
	return "https://t.me/" + b.me.Username + "?start=" + promoStartPrefix + code
}

// onText answers a text message: one that is a promo code, in any case,
// uses it; any other gets the fallback.
func (b *Bot) onText(ctx context.Context, c tele.Context) error {
	code, ok := shop.NormalizePromoCode(c.Text())
	if !ok {
		return b.onOther(ctx, c)
	}
	lang, err := b.language(ctx, c.Sender())
	if err != nil {
		return err
	}
	return b.redeemPromo(ctx, c, lang, code, false)
}

// startPromo uses the code of a deep link (/start promo_<code>), after the
// welcome. Any other start parameter is a campaign's tag, kept with the user.
func (b *Bot) startPromo(ctx context.Context, c tele.Context, lang string) error {
	code, ok := strings.CutPrefix(strings.TrimSpace(c.Message().Payload), promoStartPrefix)
	if !ok {
		return nil
	}
	return b.redeemPromo(ctx, c, lang, code, true)
}

// redeemPromo uses code for the sender and tells them what it gave, or why
// it gave nothing. A message (linked false) naming no code may be any word,
// and gets the fallback; a link naming none is refused as unknown. A retry
// of the message shows the use it made, and asks again for the activation
// of the days' period under the period's expiry: one request.
func (b *Bot) redeemPromo(ctx context.Context, c tele.Context, lang, code string, linked bool) error {
	userID := c.Sender().ID
	r, applied, err := b.shop.RedeemPromo(ctx, messageRequest(c), userID, code)
	switch {
	case errors.Is(err, shop.ErrUnknownPromo) && !linked:
		return b.reply(ctx, c, FallbackScreen(lang))
	case errors.Is(err, shop.ErrUnknownUser):
		return b.reply(ctx, c, NeedStartScreen(lang))
	case promoRefused(err):
		b.log.Info().Ctx(ctx).Err(err).Int64("user_id", userID).Msg("promo code refused")
		return b.reply(ctx, c, PromoRefusedScreen(lang, code, err))
	case err != nil:
		return err
	}
	hasKey := false
	if r.Promo.Kind == shop.PromoDays {
		b.requestActivation(ctx, r.Sub, ReasonPromo, r.Sub.ExpiresAt)
		hasKey = r.Sub.Access != nil && r.Sub.Access.RevokedAt == nil
	}
	if applied {
		b.log.Info().Ctx(ctx).Str("event", EventPromoRedeemed).Int64("user_id", userID).Str("code", r.Promo.Code).
			Str("kind", r.Promo.Kind).Int("n", r.N).Msg("promo code used")
	}
	return b.reply(ctx, c, PromoAppliedScreen(lang, r, hasKey))
}

// promoRefusals are the reasons a code gives nothing that the user is told.
var promoRefusals = []error{shop.ErrUnknownPromo, shop.ErrPromoOff, shop.ErrPromoExpired, shop.ErrPromoUsedUp,
	shop.ErrPromoUsed, shop.ErrPromoFirstPurchase, shop.ErrPromoHeld}

func promoRefused(err error) bool {
	for _, r := range promoRefusals {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// WithDiscount adds to a screen of plans the discount the user holds
// (nil: none), whose prices it shows.
func WithDiscount(lang string, d *shop.Discount, s Screen) Screen {
	if d == nil {
		return s
	}
	t := promoTextsIn(lang)
	s.Text += "\n\n" + fmt.Sprintf(t.discountNote, botui.Escape(d.Code), t.off(d.Kind, d.Percent, d.OffUSD))
	return s
}

// PromoAppliedScreen tells the user what the code gave: days, with the
// period's new end (and, without a key yet, that it is coming); a credit,
// with the balance; or a discount on their next order.
func PromoAppliedScreen(lang string, r shop.Redemption, hasKey bool) Screen {
	t, bt := promoTextsIn(lang), textsIn(lang)
	code := botui.Escape(r.Promo.Code)
	switch r.Promo.Kind {
	case shop.PromoDays:
		text := fmt.Sprintf(t.appliedDays, code, bt.Duration(r.Promo.Duration), bt.Date(r.Sub.ExpiresAt))
		if !hasKey {
			text += bt.keyOnItsWay
		}
		return Screen{Text: text, Buttons: [][]Button{{data(bt.BtnSubscription, botui.ActionSubscription)}, menuButton(bt)}}
	case shop.PromoCredit:
		return Screen{
			Text:    fmt.Sprintf(t.appliedCredit, code, shop.FormatCents(r.Promo.CreditUSD), shop.FormatCents(r.Balance)),
			Buttons: [][]Button{{data(bt.BtnPlans, botui.ActionPlans)}, menuButton(bt)},
		}
	}
	return Screen{
		Text:    fmt.Sprintf(t.appliedDiscount, code, t.off(r.Promo.Kind, r.Promo.Percent, r.Promo.OffUSD)),
		Buttons: [][]Button{{data(bt.BtnPlans, botui.ActionPlans)}, menuButton(bt)},
	}
}

// PromoRefusedScreen tells the user why code gave nothing: why is one of
// the shop's errors of codes.
func PromoRefusedScreen(lang, code string, why error) Screen {
	t, bt := promoTextsIn(lang), textsIn(lang)
	format := t.refUnknown
	for _, r := range []struct {
		err    error
		format string
	}{
		{shop.ErrPromoOff, t.refOff}, {shop.ErrPromoExpired, t.refExpired}, {shop.ErrPromoUsedUp, t.refUsedUp},
		{shop.ErrPromoUsed, t.refUsed}, {shop.ErrPromoFirstPurchase, t.refFirst}, {shop.ErrPromoHeld, t.refHeld},
	} {
		if errors.Is(why, r.err) {
			format = r.format
			break
		}
	}
	c, _ := shop.NormalizePromoCode(code)
	return Screen{
		Text:    fmt.Sprintf(format, botui.Escape(cut(c, 64))),
		Buttons: [][]Button{{data(bt.BtnPlans, botui.ActionPlans), data(bt.BtnMenu, botui.ActionMenu)}},
	}
}

// PromoUsageScreen tells an admin how to write /promo; bad is the word it
// could not read, if any.
func PromoUsageScreen(lang, bad string) Screen {
	t := promoTextsIn(lang)
	text := t.usage
	if bad != "" {
		text = fmt.Sprintf(t.badWord, botui.Escape(cut(bad, 64))) + "\n\n" + text
	}
	return Screen{Text: text}
}

// PromoCreatedScreen confirms a code made, with its deep link.
func PromoCreatedScreen(lang string, p shop.Promo, link string) Screen {
	t := promoTextsIn(lang)
	return Screen{Text: fmt.Sprintf(t.created, botui.Escape(p.Code), t.terms(p), t.conditions(p), botui.Escape(link))}
}

// PromoExistsScreen refuses a code whose name is taken, showing the code
// that has it.
func PromoExistsScreen(lang string, p shop.Promo) Screen {
	t := promoTextsIn(lang)
	return Screen{Text: fmt.Sprintf(t.exists, botui.Escape(p.Code), t.terms(p), t.conditions(p))}
}

// PromoOffScreen confirms a code switched off.
func PromoOffScreen(lang string, p shop.Promo) Screen {
	t := promoTextsIn(lang)
	return Screen{Text: fmt.Sprintf(t.switchedOff, botui.Escape(p.Code), p.Uses)}
}

// PromoListScreen is /promo list: each code with its terms, its uses and
// whether it can still be entered at now.
func PromoListScreen(lang string, ps []shop.Promo, now time.Time) Screen {
	t := promoTextsIn(lang)
	if len(ps) == 0 {
		return Screen{Text: t.listEmpty}
	}
	lines := []string{t.listTitle}
	for _, p := range ps {
		line := fmt.Sprintf(t.listLine, botui.Escape(p.Code), t.terms(p), t.conditions(p))
		switch {
		case p.DisabledAt != nil:
			line += t.stateOff
		case p.ExpiresAt != nil && !now.Before(*p.ExpiresAt):
			line += t.stateExpired
		case p.MaxUses > 0 && p.Uses >= p.MaxUses:
			line += t.stateUsedUp
		}
		lines = append(lines, line)
	}
	return Screen{Text: strings.Join(lines, "\n")}
}

// promoTexts is what the bot says of promo codes, in one language.
type promoTexts struct {
	lang string

	appliedDays     string // code, duration, the period's end
	appliedCredit   string // code, credit, balance
	appliedDiscount string // code, the discount (off)
	discountNote    string // code, the discount (off)

	// Refusals; each takes the code.
	refUnknown, refOff, refExpired, refUsedUp, refUsed, refFirst, refHeld string

	// What a code gives.
	percentOff, fixedOff string // take the percent, the dollars
	percentShort         string // takes the percent
	fixedShort           string // takes the dollars
	daysOf               string // takes the duration
	creditOf             string // takes the dollars

	// Its conditions.
	limit, noLimit, perUser, until, firstOnly string

	// For admins.
	usage        string
	badWord      string // takes the word
	created      string // code, terms, conditions, link
	exists       string // code, terms, conditions
	switchedOff  string // code, uses
	listEmpty    string
	listTitle    string
	listLine     string // code, terms, conditions
	stateOff     string
	stateExpired string
	stateUsedUp  string
}

func promoTextsIn(lang string) *promoTexts { return botui.Pick(lang, &promoEN, &promoRU) }

// off is a discount as a share or an amount: "20%", "$1.50".
func (t *promoTexts) off(kind string, percent int, offUSD int64) string {
	if kind == shop.PromoFixed {
		return fmt.Sprintf(t.fixedShort, shop.FormatCents(offUSD))
	}
	return fmt.Sprintf(t.percentShort, percent)
}

// terms is what p gives.
func (t *promoTexts) terms(p shop.Promo) string {
	switch p.Kind {
	case shop.PromoPercent:
		return fmt.Sprintf(t.percentOff, p.Percent)
	case shop.PromoFixed:
		return fmt.Sprintf(t.fixedOff, shop.FormatCents(p.OffUSD))
	case shop.PromoDays:
		return fmt.Sprintf(t.daysOf, textsIn(t.lang).Duration(p.Duration))
	}
	return fmt.Sprintf(t.creditOf, shop.FormatCents(p.CreditUSD))
}

// conditions are p's limits, expiry and audience, with its uses so far.
func (t *promoTexts) conditions(p shop.Promo) string {
	parts := []string{fmt.Sprintf(t.noLimit, p.Uses)}
	if p.MaxUses > 0 {
		parts[0] = fmt.Sprintf(t.limit, p.Uses, p.MaxUses)
	}
	parts = append(parts, fmt.Sprintf(t.perUser, p.PerUser))
	if p.ExpiresAt != nil {
		parts = append(parts, fmt.Sprintf(t.until, textsIn(t.lang).Date(*p.ExpiresAt)))
	}
	if p.FirstOnly {
		parts = append(parts, t.firstOnly)
	}
	return strings.Join(parts, " · ")
}

var promoEN = promoTexts{
	lang:            botui.English,
	appliedDays:     "🎟 Code <b>%s</b> applied: %s added. Your subscription runs until %s.",
	appliedCredit:   "🎟 Code <b>%s</b> applied: $%s added to your balance, which is now $%s.",
	appliedDiscount: "🎟 Code <b>%s</b> applied: %s off your next order. The plans show your prices.",
	discountNote:    "🎟 Code <b>%s</b>: %s off your next order, included in these prices.",

	refUnknown: "There is no promo code <b>%s</b>.",
	refOff:     "The promo code <b>%s</b> is no longer valid.",
	refExpired: "The promo code <b>%s</b> has expired.",
	refUsedUp:  "The promo code <b>%s</b> has been used up.",
	refUsed:    "You have already used the promo code <b>%s</b>.",
	refFirst:   "The promo code <b>%s</b> is for a first purchase only.",
	refHeld:    "You already have a discount waiting for your next order. Use it first, then send <b>%s</b> again.",

	percentOff:   "%d%% off the next order",
	fixedOff:     "$%s off the next order",
	percentShort: "%d%%",
	fixedShort:   "$%s",
	daysOf:       "%s of access",
	creditOf:     "$%s to the balance",

	limit:     "used %d of %d",
	noLimit:   "used %d, no limit",
	perUser:   "%d per user",
	until:     "until %s",
	firstOnly: "first purchase only",

	usage: "<b>Promo codes</b>\n" +
		"/promo new CODE percent 20 — 20% off the next order of a plan\n" +
		"/promo new CODE fixed 1.50 — $1.50 off it (and the same share off its Stars price)\n" +
		"/promo new CODE days 7 — 7 days of access at once\n" +
		"/promo new CODE credit 5.00 — $5.00 to the balance at once\n" +
		"Then, if you like: limit N (uses by everyone; no limit if left out), per_user N (1 if left out), " +
		"expires 2027-01-31 (the last day it can be entered, UTC), first (only for users who have bought nothing yet).\n" +
		"/promo list — the latest codes\n" +
		"/promo off CODE — nobody can enter it any more; discounts waiting stay\n\n" +
		"A code is 3 to 32 letters, digits, _ or -. Users send it as a message, or open its link.",
	badWord:      "I could not read “%s”.",
	created:      "Promo code <b>%s</b> made: %s.\n%s\nLink: %s",
	exists:       "A promo code <b>%s</b> exists already: %s.\n%s",
	switchedOff:  "Promo code <b>%s</b> is off: nobody can enter it any more. It was used %d times.",
	listEmpty:    "No promo codes yet. /promo shows how to make one.",
	listTitle:    "<b>Promo codes</b>, newest first:",
	listLine:     "• <b>%s</b> — %s · %s",
	stateOff:     " · <i>off</i>",
	stateExpired: " · <i>expired</i>",
	stateUsedUp:  " · <i>used up</i>",
}

var promoRU = promoTexts{
	lang:            botui.Russian,
	appliedDays:     "🎟 Промокод <b>%s</b> применён: добавлено %s. Подписка действует до %s.",
	appliedCredit:   "🎟 Промокод <b>%s</b> применён: на баланс зачислено $%s, теперь на нём $%s.",
	appliedDiscount: "🎟 Промокод <b>%s</b> применён: скидка %s на следующий заказ. Цены в тарифах — уже с ней.",
	discountNote:    "🎟 Промокод <b>%s</b>: скидка %s на следующий заказ, цены — уже с ней.",

	refUnknown: "Промокода <b>%s</b> нет.",
	refOff:     "Промокод <b>%s</b> больше не действует.",
	refExpired: "Срок действия промокода <b>%s</b> истёк.",
	refUsedUp:  "Промокод <b>%s</b> закончился: все его активации использованы.",
	refUsed:    "Вы уже использовали промокод <b>%s</b>.",
	refFirst:   "Промокод <b>%s</b> — только для первой покупки.",
	refHeld:    "У вас уже есть скидка на следующий заказ. Сначала воспользуйтесь ею, потом отправьте <b>%s</b> ещё раз.",

	percentOff:   "скидка %d%% на следующий заказ",
	fixedOff:     "скидка $%s на следующий заказ",
	percentShort: "%d%%",
	fixedShort:   "$%s",
	daysOf:       "%s доступа",
	creditOf:     "$%s на баланс",

	limit:     "использован %d из %d",
	noLimit:   "использован %d, без ограничения",
	perUser:   "%d на пользователя",
	until:     "до %s",
	firstOnly: "только первая покупка",

	usage: "<b>Промокоды</b>\n" +
		"/promo new КОД percent 20 — скидка 20% на следующий заказ тарифа\n" +
		"/promo new КОД fixed 1.50 — скидка $1.50 на него (и такая же доля от цены в звёздах)\n" +
		"/promo new КОД days 7 — 7 дней доступа сразу\n" +
		"/promo new КОД credit 5.00 — $5.00 на баланс сразу\n" +
		"Дальше, по желанию: limit N (активаций всего; без ограничения, если не указать), per_user N (1, если не указать), " +
		"expires 2027-01-31 (последний день, когда его можно ввести, UTC), first (только для тех, кто ещё ничего не покупал).\n" +
		"/promo list — последние промокоды\n" +
		"/promo off КОД — ввести его больше нельзя; уже полученные скидки остаются\n\n" +
		"Код — от 3 до 32 латинских букв, цифр, _ или -. Пользователи присылают его сообщением или открывают его ссылку.",
	badWord:      "Не удалось разобрать «%s».",
	created:      "Промокод <b>%s</b> создан: %s.\n%s\nСсылка: %s",
	exists:       "Промокод <b>%s</b> уже есть: %s.\n%s",
	switchedOff:  "Промокод <b>%s</b> выключен: ввести его больше нельзя. Активаций было: %d.",
	listEmpty:    "Промокодов пока нет. Как создать — /promo.",
	listTitle:    "<b>Промокоды</b>, новые сверху:",
	listLine:     "• <b>%s</b> — %s · %s",
	stateOff:     " · <i>выключен</i>",
	stateExpired: " · <i>истёк</i>",
	stateUsedUp:  " · <i>закончился</i>",
}
